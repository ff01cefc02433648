"""Erasure reaches the dead letters (issue 17, platestream/privacy/dead_letters.py), pure logic
over an in-memory key bucket: the dead letters of one stage and second share a key no other
record has, the plate is found in a payload however the device spelled it, and puncturing the
keys of the dead letters that mention it makes those (and those of the same stage and second)
stop opening, in the one tree that sealed them, and no others. On the real broker, through the
sink's erasure loop: tests/privacy/test_shredding_stack.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from platestream.privacy.dead_letters import candidates, key_id, mentions, texts_of
from platestream.privacy.erasure import subject_id
from platestream.privacy.shredding import Shredded
from platestream.serde import AvroSerde
from tests.privacy.test_shredding import ERASED, KEPT, KEY, MemoryBucket, _shredder, _unread


def _dead_letter(payload: bytes, error: str, second: int = 1) -> dict[str, Any]:
    letter = _unread(ERASED, 1)["dead_letter"]
    return {**letter, "value": payload, "error": error, "key": None, "ts": second * 1000 + 7}


def test_a_plate_is_found_however_a_device_spelled_it() -> None:
    for text in (
        '{"plate":"era5e01"}',
        "<licensePlate>ERA 5E01</licensePlate>",
        "plate=ERA-5E-01&camera=7",
        "read ＥＲＡ５Ｅ０１ at the gate",  # full-width letters, as NFKC folds them
    ):
        assert ERASED in candidates([text]), text
    assert ERASED not in candidates(["ERA5E0", "ERA 5 E 0 1 X"])  # four runs apart: not joined
    assert all(2 <= len(c) <= 16 for c in candidates(["A B " + "X" * 40 + " 12 34"]))


def test_the_dead_letters_of_a_stage_share_a_key_per_second_and_no_plate_names_it() -> None:
    serde = AvroSerde(shredder=_shredder(MemoryBucket()))
    plain = AvroSerde()

    def kid(second: int, stage: str = "ingest") -> str:
        letter = {**_dead_letter(b'{"plate":"ERA5E01"}', "bad", second), "stage": stage}
        got = key_id(plain.decode(serde.encode("dead_letter", letter)))
        assert got is not None
        return got

    assert kid(5) == kid(5) != kid(6)
    assert kid(5, "sink") != kid(5)
    plates = serde.encode("plate_read", _read(ERASED))
    assert plain.decode(plates)["plate"].split(":")[1] not in {kid(5), kid(6)}
    assert len({k.partition(".")[2] for k in (kid(5), kid(6))}) == 1  # one tree


def test_puncturing_the_dead_letters_that_mention_a_plate_spares_the_others() -> None:
    bucket = MemoryBucket()
    writer = AvroSerde(shredder=_shredder(bucket))
    letters = {
        "payload": _dead_letter(json.dumps({"plate": "era-5e01"}).encode(), "no camera", 1),
        "error": _dead_letter(b"\xff\xd8 binary", f"{ERASED[:3]} {ERASED[3:]} refused", 2),
        "same second": _dead_letter(b"nothing personal", "unparsable", 2),
        "kept": _dead_letter(json.dumps({"plate": KEPT}).encode(), "no camera", 3),
        "plain": _dead_letter(b"nothing personal", "unparsable", 4),
    }
    wires = {name: writer.encode("dead_letter", rec) for name, rec in letters.items()}
    plates = writer.encode("plate_read", {**_read(KEPT)})  # a plate's key in the same tree
    eraser = _shredder(bucket)
    subjects = {subject_id(ERASED, KEY)}
    kids, read = mentions(list(wires.values()), AvroSerde(), eraser, subjects)
    assert read == 5 and len(kids) == 2
    size = len(next(iter(bucket.objects.values())))
    assert eraser.keys.puncture_keys(kids) == 2
    assert eraser.keys.puncture_keys(kids) == 0  # idempotent
    assert len(bucket.objects) == 1  # punctured in the tree that sealed them, no new tree
    assert len(next(iter(bucket.objects.values()))) > size
    reader = AvroSerde(shredder=_shredder(bucket))  # a fresh stage, or a replay
    for name in ("payload", "error", "same second"):  # its neighbour in time goes with it
        with pytest.raises(Shredded):
            reader.decode(wires[name])
    for name in ("kept", "plain"):
        got = reader.decode(wires[name])
        assert (got["value"], got["error"]) == (letters[name]["value"], letters[name]["error"])
    assert reader.decode(plates)["plate"] == KEPT
    # erased already, or a record that is not a sealed dead letter: passed over, not an error
    again, read = mentions([*wires.values(), b"\x00garbage"], AvroSerde(), eraser, subjects)
    assert again == [] and read == 6
    assert texts_of({"error": "e", "value": b"v", "key": None}) == ["e", "v"]


def _read(plate: str) -> dict[str, Any]:
    from tests.privacy.test_shredding import _records

    return _records(plate, 9)["plate_read"]
