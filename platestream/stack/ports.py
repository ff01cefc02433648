"""The local stack's TCP ports: from the settings, or a free block for a test stack."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from urllib.parse import urlparse

from platestream.errors import StackError
from platestream.settings import CommonSettings

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
GRPC_OFFSET = 10_000  # SeaweedFS opens a gRPC port at every HTTP port + 10000
DEFAULT_WEED_HELPERS = {"master": 9333, "filer": 8888, "volume": 9340, "admin": 23646}


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


@dataclass(frozen=True)
class Ports:
    """Every TCP port the stack listens on."""

    broker: int
    s3: int
    clickhouse: int
    weed_helpers: dict[str, int] = field(default_factory=dict)

    def of(self, name: str) -> list[int]:
        if name == "broker":
            return [self.broker]
        if name == "clickhouse":
            return [self.clickhouse]
        helpers = list(self.weed_helpers.values())
        return [self.s3, self.s3 + GRPC_OFFSET] + helpers + [p + GRPC_OFFSET for p in helpers]

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> Ports:
        hosts = []
        bhost, bport = host_port(settings.kafka_bootstrap.split(",")[0], 9092)
        shost, sport = host_port(settings.s3_endpoint, 8333)
        chost, cport = host_port(settings.clickhouse_url, 8123)
        hosts = [bhost, shost, chost]
        if not set(hosts) <= LOCAL_HOSTS:
            raise StackError(
                f"the local stack runs on 127.0.0.1 only, but the settings point at {', '.join(sorted(set(hosts)))} "
                "(an existing deployment?): unset PLATESTREAM_KAFKA_BOOTSTRAP / _S3_ENDPOINT / _CLICKHOUSE_URL"
            )
        if sport == 8333:
            helpers = dict(DEFAULT_WEED_HELPERS)
        else:  # a second stack (tests): helpers right above the S3 port
            helpers = {
                "master": sport + 1,
                "filer": sport + 2,
                "volume": sport + 3,
                "admin": sport + 4,
            }
        return cls(bport, sport, cport, helpers)


def ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux; 32768 elsewhere)."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def pick_free_ports(seed: int | None = None, attempts: int = 200) -> tuple[int, int, int]:
    """(broker, s3, clickhouse) ports that are free now, S3's helper and gRPC ports included.

    The gRPC ports (each HTTP port + 10000) are kept below the kernel's range for outgoing
    connections where it allows: a port in that range can be taken by any client socket between
    this check and SeaweedFS's bind (a fresh-clone `make test` failed so once, "s3 failed to
    listen on grpc port 34422")."""
    rng = random.Random(seed)
    top = min(29_000, ephemeral_low() - GRPC_OFFSET - 10)
    top = top if top > 20_500 else 29_000  # too few blocks below it: take the old range
    for _ in range(attempts):
        base = rng.randrange(20_000, top, 10)
        wanted = [base, base + 1, *range(base + 2, base + 7)]
        wanted += [p + GRPC_OFFSET for p in wanted[1:]]
        if all(bindable(p) for p in wanted):
            return base, base + 2, base + 1
    raise StackError("no free block of local ports found for a test stack")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it), for a server a test or a
    benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the servers use it: TIME_WAIT leftovers of a stopped server do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
