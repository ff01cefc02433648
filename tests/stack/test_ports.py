"""A test stack's ports: its SeaweedFS gRPC ports stay out of the kernel's range for outgoing
connections, where any client socket could take one before SeaweedFS binds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from platestream.stack import ports


def test_grpc_ports_stay_below_the_range_of_outgoing_connections(tmp_path: Path) -> None:
    low = ports.ephemeral_low()
    if low - ports.GRPC_OFFSET - 10 <= 20_500:
        pytest.skip(f"outgoing connections start at port {low}: no room below it for test stacks")
    for seed in range(200):
        broker, s3, clickhouse = ports.pick_free_ports(seed=seed)
        block = [broker, clickhouse, s3, *range(s3 + 1, s3 + 5)]
        assert max(block) + ports.GRPC_OFFSET < low, (seed, block, low)


def test_the_range_is_read_from_the_kernel_or_defaults(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("40000\t60999\n")
    assert ports.ephemeral_low(str(f)) == 40_000
    assert ports.ephemeral_low(str(tmp_path / "missing")) == 32_768
    f.write_text("")
    assert ports.ephemeral_low(str(f)) == 32_768
