"""The serde's two codecs agree: cavro (the fast path) and fastavro (schemas, old writers, and
every value cavro refuses) give the same bytes and the same records (platestream/serde.py)."""

from __future__ import annotations

import datetime as dt
import io
import random
import time

import fastavro
import pytest
from fastavro.utils import generate_many

from platestream.bench.load import ReadFactory
from platestream.errors import SerdeError
from platestream.serde import (
    SCHEMA_DIR,
    AvroSerde,
    catalogue_schemas,
    cavro,
    load_schema_file,
    read_schema,
)

SERDE = AvroSerde()
# the tests that ask cavro itself: where it has no wheel the serde is fastavro alone
needs_cavro = pytest.mark.skipif(cavro is None, reason="cavro is not installed on this platform")
T0 = 1_767_225_600_000


def fastavro_bytes(name: str, record: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, catalogue_schemas()[name], record)
    return buf.getvalue()


def fastavro_record(name: str, body: bytes) -> dict:
    reader = read_schema(load_schema_file(SCHEMA_DIR / f"{name}.avsc"))
    return fastavro.schemaless_reader(io.BytesIO(body), reader, None)  # type: ignore[return-value]


@pytest.mark.parametrize("name", sorted(catalogue_schemas()))
def test_generated_records_of_every_schema_encode_and_decode_as_fastavro_does(name):
    random.seed(f"codecs:{name}")
    for record in generate_many(catalogue_schemas()[name], 150):
        wire = SERDE.encode(name, record)
        assert wire[5:] == fastavro_bytes(name, record)
        assert SERDE.decode(wire) == fastavro_record(name, wire[5:])


@needs_cavro
def test_the_fast_codec_encodes_the_records_the_stages_write():
    read = ReadFactory("codecs", cameras=10).read(1, T0)
    SERDE._fast["plate_read"].binary_encode(read)  # no fallback taken for the hot path
    assert SERDE.encode("plate_read", read)[5:] == fastavro_bytes("plate_read", read)


@needs_cavro
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ts", dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)),  # a datetime timestamp
        ("ts", float(T0)),  # a float in a long field
        ("ts", True),  # a bool in a long field
    ],
)
def test_values_the_fast_codec_refuses_encode_as_fastavro_encodes_them(field, value):
    read = ReadFactory("codecs", cameras=10).read(2, T0)
    if field not in read:
        pytest.skip(f"plate_read has no field {field}")
    read[field] = value
    with pytest.raises(Exception):  # noqa: B017 - any refusal sends it to fastavro
        SERDE._fast["plate_read"].binary_encode(read)
    assert SERDE.encode("plate_read", read)[5:] == fastavro_bytes("plate_read", read)


def test_values_neither_codec_takes_are_serde_errors():
    read = ReadFactory("codecs", cameras=10).read(3, T0)
    for bad in ({**read, "plate": 5}, {**read, "plate": None}, {**read, "confidence": "high"}):
        with pytest.raises(SerdeError):
            SERDE.encode("plate_read", bad)
    missing = {k: v for k, v in read.items() if k != "read_id"}
    with pytest.raises(SerdeError):
        SERDE.encode("plate_read", missing)


def test_hostile_bodies_are_serde_errors_in_bounded_time():
    read = ReadFactory("codecs", cameras=10).read(4, T0)
    wire = SERDE.encode("plate_read", read)
    plate_at = wire.index(read["plate"].encode())
    bodies = {
        "truncated": wire[: len(wire) // 2],
        "header only": wire[:5],
        "a string claiming 2 GiB": wire[:5] + b"\xfe\xff\xff\xff\x0f" + wire[5:],
        "a negative length": wire[:5] + b"\x01" + wire[5:],
        "invalid UTF-8": wire[:plate_at] + b"\xff\xfe" + wire[plate_at + 2 :],
    }
    for label, data in bodies.items():
        started = time.monotonic()
        with pytest.raises(SerdeError):
            SERDE.decode(data)
        assert time.monotonic() - started < 0.5, label


def test_without_cavro_fastavro_does_all_of_it(monkeypatch):
    import platestream.serde as serde_module

    monkeypatch.setattr(serde_module, "cavro", None)  # a platform cavro has no wheel for
    plain = AvroSerde()
    assert all(codec is None for codec in plain._fast.values())
    read = ReadFactory("codecs", cameras=10).read(5, T0)
    wire = plain.encode("plate_read", read)
    assert wire == SERDE.encode("plate_read", read)
    assert plain.decode(wire) == SERDE.decode(wire) == fastavro_record("plate_read", wire[5:])
