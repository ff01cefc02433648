"""The subject-access archive streams: its memory stays bounded by a block and a chunk while the
archive is many times larger (real ClickHouse tables from the migrations, real bucket)."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from platestream.clickhouse import make_clickhouse
from platestream.privacy.subject_access import ArchiveRequest, iter_archive
from platestream.s3 import make_s3
from platestream.settings import CommonSettings

from .helpers import migrate

pytestmark = pytest.mark.integration

PLATE = "MEM4242"
IMAGES = 64
IMAGE_BYTES = 768 * 1024  # random, so the ZIP cannot shrink them
ROWS = 20_000


def test_archive_memory_stays_bounded_while_it_grows(settings: CommonSettings) -> None:
    migrate(settings)
    ch = make_clickhouse(settings, autogenerate_session_id=False)
    s3 = make_s3(settings)
    keys = [f"crops/cam-m/{i:03d}-plate.jpg" for i in range(IMAGES)]
    for key in keys:
        s3.put_object(settings.s3_bucket, key, io.BytesIO(os.urandom(IMAGE_BYTES)), IMAGE_BYTES)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        [
            f"ev-{i:06d}",
            1,
            f"cam-{i % 7}",
            base + timedelta(seconds=i),
            PLATE if i % 2 == 0 else "OTHER1",
            [PLATE],
            keys[i] if i < IMAGES else None,
            "x" * 200,
        ]
        for i in range(ROWS)
    ]
    ch.insert(
        "plate_events",
        rows,
        column_names=[
            "event_id",
            "version",
            "camera_id",
            "ts",
            "plate",
            "variants",
            "best_crop_key",
            "vehicle_model",
        ],
    )
    req = ArchiveRequest(plate=PLATE, requested_by="test")
    total, chunks = 0, 0
    out = io.BytesIO()
    tracemalloc.start()
    try:
        for chunk in iter_archive(req, clickhouse=ch, s3=s3, bucket=settings.s3_bucket):
            total += len(chunk)
            chunks += 1
            if chunks <= 3 or len(chunk) < 1024:  # keep only a little: the ZIP's ends
                out.write(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert req.counts["plate_events.jsonl"] == ROWS  # every row names the plate as a variant
    assert req.counts["images"] == IMAGES
    assert total > IMAGES * IMAGE_BYTES  # 48 MiB of images alone
    assert chunks > IMAGES  # handed on as it was made, not at the end
    # bounded by clickhouse-connect's read-ahead (http_buffer_size, 10 MiB), one block of at most
    # 1000 rows and one 256 KiB chunk: not by the archive, which is several times larger
    mib = f"peak {peak / 2**20:.1f} MiB for a {total / 2**20:.1f} MiB archive"
    assert peak < 16 * 1024 * 1024, mib
    assert total > 3 * peak, mib
    print(mib)


def test_the_streamed_archive_is_a_valid_zip(settings: CommonSettings) -> None:
    migrate(settings)
    ch = make_clickhouse(settings, autogenerate_session_id=False)
    s3 = make_s3(settings)
    s3.put_object(settings.s3_bucket, "crops/a.jpg", io.BytesIO(b"jpeg-bytes"), 10)
    ch.insert(
        "plate_events",
        [["ev-1", 1, "cam-1", datetime(2026, 11, 1, tzinfo=UTC), PLATE, [PLATE], "crops/a.jpg"]],
        column_names=[
            "event_id",
            "version",
            "camera_id",
            "ts",
            "plate",
            "variants",
            "best_crop_key",
        ],
    )
    req = ArchiveRequest(plate=PLATE.lower(), requested_by="test", purpose="audit")
    data = b"".join(iter_archive(req, clickhouse=ch, s3=s3, bucket=settings.s3_bucket))
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    assert zf.read("images/crops/a.jpg") == b"jpeg-bytes"
    assert b'"ev-1"' in zf.read("plate_events.jsonl")
    assert b'"purpose": "audit"' in zf.read("manifest.json")


def test_the_archive_holds_every_read_of_the_plates_passages_whatever_it_was_read_as(
    settings: CommonSettings,
) -> None:
    """A passage of the plate read once as a misreading: that read is the subject's too (what an
    erasure deletes, tests/privacy/test_shredding_stack.py), and another vehicle's is not."""
    migrate(settings)
    ch = make_clickhouse(settings, autogenerate_session_id=False)
    s3 = make_s3(settings)
    at = datetime.now(UTC) - timedelta(days=1)  # within every table's retention
    ch.insert(
        "plate_events",
        [["ev-1", 1, "cam-1", at, PLATE, [PLATE, "MEM4Z42"], ["rd-1", "rd-2"]]],
        column_names=["event_id", "version", "camera_id", "ts", "plate", "variants", "read_ids"],
    )
    ch.insert(
        "plate_reads",
        [
            ["rd-1", "fr-1", "cam-1", at, PLATE],
            ["rd-2", "fr-2", "cam-1", at, "MEM4Z42"],  # misread, of this passage
            ["rd-3", "fr-3", "cam-2", at, "MEM4Z42"],  # another vehicle read alike
        ],
        column_names=["read_id", "frame_id", "camera_id", "ts", "plate"],
    )
    req = ArchiveRequest(plate=PLATE, requested_by="test")
    data = b"".join(iter_archive(req, clickhouse=ch, s3=s3, bucket=settings.s3_bucket))
    reads = zipfile.ZipFile(io.BytesIO(data)).read("plate_reads.jsonl").decode()
    assert '"rd-1"' in reads and '"rd-2"' in reads and '"rd-3"' not in reads
    assert req.counts["plate_reads.jsonl"] == 2
