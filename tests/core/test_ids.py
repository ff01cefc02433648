"""stable_id builds the text of a UUIDv5 without the UUID object: it must equal uuid.uuid5's."""

from __future__ import annotations

import random
import uuid

from platestream.ids import NAMESPACE, stable_id


def _reference(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return str(uuid.uuid5(NAMESPACE, text))


def test_stable_id_equals_uuid5_over_many_inputs() -> None:
    rng = random.Random(7)
    alphabet = "ABCXYZ0189-_ éßж😀\x1f"
    cases: list[tuple[object, ...]] = [(), ("",), (None,), ("a", None, "b"), (1, 2.5, "x")]
    for _ in range(3000):
        n = rng.randint(1, 4)
        cases.append(
            tuple(
                rng.choice([None, rng.randint(-(10**12), 10**12)])
                if rng.random() < 0.2
                else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
                for _ in range(n)
            )
        )
    for parts in cases:
        assert stable_id(*parts) == _reference(*parts), parts


def test_stable_id_is_a_version_5_rfc4122_uuid() -> None:
    u = uuid.UUID(stable_id("run", "read", 42))
    assert u.version == 5
    assert u.variant == uuid.RFC_4122


def test_str_subclass_counts_as_its_text() -> None:
    class Tag(str):
        pass

    assert stable_id(Tag("cam-1"), "x") == _reference("cam-1", "x")
