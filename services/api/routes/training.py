"""Training export: corrected plate crops with their labels, in the accuracy benchmark's format.

The ZIP holds ``images/<event_id>.<ext>`` and, per image, a ``.txt`` with one tab-separated line
``file  x  y  w  h  PLATE`` (the OpenALPR benchmark layout the project's accuracy benchmark reads);
for a crop the box is the whole image. ``labels.txt`` repeats every line in one file.

The ZIP is streamed (``services/api/zipstream.py``): one crop is fetched, added and sent at a time,
so the API holds one image, not the export. A crop over ``api_training_max_image_bytes`` is left
out (counted in ``missing.txt``); past ``api_training_max_bytes`` of images the ZIP ends early with
``TRUNCATED.txt``. Each download holds a slot of ``state.training_slots`` until it is sent or the
client leaves: ``api_training_max_per_user`` per user, ``api_training_max_running`` per process,
429 with Retry-After past either.

The labels are plates: the export needs a stated purpose (issue 17), recorded in its audit record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from platestream.timeutil import to_ms
from services.api.deps import Correct, StateDep, audit
from services.api.purpose import RequiredPurpose
from services.api.search_sql import FAST_FINAL
from services.api.state import AppState
from services.api.zipstream import stream_zip

router = APIRouter(prefix="/api/v1/training", tags=["training"])

LABELS_SQL = (
    "SELECT c.event_id AS event_id, argMax(c.action, c.ts) AS action, argMax(c.plate, c.ts) AS label, "
    "any(e.best_crop_key) AS crop_key FROM corrections AS c FINAL "
    "INNER JOIN (SELECT event_id, best_crop_key FROM plate_events FINAL WHERE best_crop_key IS NOT NULL) AS e "
    "ON e.event_id = c.event_id "
    "WHERE c.ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND c.ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC') "
    "GROUP BY c.event_id HAVING action IN ('confirm', 'correct') AND label IS NOT NULL "
    "ORDER BY event_id LIMIT {limit:UInt32}" + FAST_FINAL
)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or baseline/progressive JPEG, from its header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


README = (
    "Corrected plate crops exported by platestream. Each images/<id>.txt holds one "
    "tab-separated line: file x y w h PLATE (box = the whole crop).\n"
)


@router.get("/export", responses={200: {"content": {"application/zip": {}}}})
def training_export(
    request: Request,
    state: StateDep,
    p: Correct,
    _why: RequiredPurpose,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=20000)] = 5000,
) -> StreamingResponse:
    """ZIP of confirmed and corrected crops with `file x y w h PLATE` labels, streamed."""
    try:
        params = {
            "since": to_ms(since) if since else 0,
            "until": to_ms(until) if until else 32503680000000,
            "limit": limit,
        }
    except (OverflowError, ValueError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad time: {exc}") from exc
    slot = state.training_slots.acquire(p.subject)  # Busy: 429 with Retry-After
    try:
        rows = list(state.clickhouse.query(LABELS_SQL, parameters=params).named_results())
        audit(
            state,
            request,
            p,
            "training_export",
            query={"since": params["since"], "until": params["until"]},
            result_count=len(rows),
            delivered=True,  # acknowledged before the ZIP's first byte, or 503
        )
    except BaseException:
        slot.release()
        raise

    def body() -> Iterator[bytes]:
        try:
            yield from stream_zip(training_entries(state, rows))
        finally:  # sent, failed or the client went away
            slot.release()

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="platestream-training.zip"'},
    )


def training_entries(state: AppState, rows: list[dict[str, Any]]) -> Iterator[tuple[str, bytes]]:
    """The ZIP's entries, one crop fetched at a time; bounded by the settings' byte caps."""
    max_image = state.settings.api_training_max_image_bytes
    budget = state.settings.api_training_max_bytes
    lines: list[str] = []
    missing = 0
    sent = 0
    for r in rows:
        data = _fetch(state, r["crop_key"], max_image)
        size = image_size(data) if data else None
        if data is None or size is None:
            missing += 1
            continue
        if sent + len(data) > budget:
            yield (
                "TRUNCATED.txt",
                (
                    f"The export stopped at {sent} bytes of images (api_training_max_bytes); "
                    f"{len(lines)} of {len(rows)} crops are in it. Export a shorter time range.\n"
                ).encode(),
            )
            break
        sent += len(data)
        ext = "png" if data[:4] == b"\x89PNG" else "jpg"
        name = f"{r['event_id']}.{ext}"
        line = f"{name}\t0\t0\t{size[0]}\t{size[1]}\t{r['label']}"
        yield f"images/{name}", data
        yield f"images/{r['event_id']}.txt", (line + "\n").encode()
        lines.append(line)
    yield "labels.txt", "".join(f"{ln}\n" for ln in lines).encode()
    yield "missing.txt", f"{missing}\n".encode()
    yield "README.txt", README.encode()


def _fetch(state: Any, key: str | None, max_bytes: int) -> bytes | None:
    """The object's bytes; None when it is missing, unreadable or larger than ``max_bytes``."""
    if not key:
        return None
    try:
        resp = state.s3.get_object(state.settings.s3_bucket, key)
    except (
        Exception
    ):  # a missing or unreadable object is counted and skipped, not fatal to the export
        return None
    try:
        data = bytearray()
        for chunk in resp.stream(64 * 1024):
            data += chunk
            if len(data) > max_bytes:  # never held past the cap
                return None
        return bytes(data)
    finally:
        resp.close()
        resp.release_conn()
