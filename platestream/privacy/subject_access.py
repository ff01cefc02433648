"""Subject access: one ZIP archive of everything the deployment holds about one plate.

The archive holds one JSON Lines file per store section (events of every version, reads, camera
events, alerts, corrections, anomalies, first/last-seen aggregates, watchlist entries), the images
those rows reference, the audit entries about the plate or its events, a log of who searched for
it (audit records whose plate query matched it exactly or as a pattern) and a manifest with the
counts. It is produced as a byte stream: rows come from ClickHouse block by block and images from
the bucket in chunks, and bytes are handed on as soon as the ZIP writer has them, so memory stays
bounded by one block, one chunk and the set of image keys (capped by ``max_images``).
"""

from __future__ import annotations

import fnmatch
import io
import json
import logging
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from platestream.errors import BadInputError
from platestream.limits import check_object_key
from platestream.plates import normalise, plate_distance
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024
BLOCK = {"max_block_size": 1000, "preferred_block_size_bytes": 1_000_000}
# Sections read from ClickHouse: (file in the archive, table, SQL after FROM, image-key columns).
# {plate:String} is bound by the server. Tables that do not exist in a deployment are skipped.
SECTIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "plate_events.jsonl",
        "plate_events",
        "plate_events WHERE plate = {plate:String} OR has(variants, {plate:String}) "
        "ORDER BY ts, event_id, version",
        ("best_crop_key", "image_keys"),
    ),
    (
        "plate_reads.jsonl",
        "plate_reads",
        # and every read of its passages, whatever text each was read as (what erasure deletes)
        "plate_reads WHERE plate = {plate:String} OR has(candidate_plates, {plate:String}) "
        "OR read_id IN (SELECT arrayJoin(read_ids) FROM plate_events "
        "WHERE plate = {plate:String} OR has(variants, {plate:String})) ORDER BY ts, read_id",
        ("crop_key",),
    ),
    (
        "camera_events.jsonl",
        "camera_events",
        "camera_events WHERE plate = {plate:String} OR has(candidate_plates, {plate:String}) "
        "ORDER BY ts, event_id",
        ("image_keys",),
    ),
    (
        "alerts.jsonl",
        "alerts",
        "alerts WHERE plate = {plate:String} ORDER BY ts, alert_id",
        ("crop_s3_key",),
    ),
    (
        "corrections.jsonl",
        "corrections",
        "corrections WHERE plate = {plate:String} OR previous_plate = {plate:String} "
        "OR event_id IN (SELECT event_id FROM plate_events WHERE plate = {plate:String}) "
        "ORDER BY ts, correction_id",
        (),
    ),
    (
        "anomalies.jsonl",
        "anomalies",
        "anomalies WHERE plate = {plate:String} OR first_plate = {plate:String} "
        "OR second_plate = {plate:String} ORDER BY ts, anomaly_id",
        (),
    ),
)
FIRST_LAST_SQL = (
    "SELECT plate, minMerge(first_seen) AS first_seen, maxMerge(last_seen) AS last_seen, "
    "argMinMerge(first_camera) AS first_camera, argMaxMerge(last_camera) AS last_camera, "
    "uniqMerge(passages) AS passages FROM plate_first_last_seen WHERE plate = {plate:String} "
    "GROUP BY plate"
)
# Audit entries about the plate: it was the plate asked for (as typed: "abc-1234"), its text is
# anywhere in the query, or one of its events was viewed.
ABOUT_SQL = (
    "SELECT * FROM audit_log WHERE "
    "replaceRegexpAll(upper(JSONExtractString(query, 'plate')), '[^A-Z0-9]', '') = {plate:String} "
    "OR position(upper(query), {plate:String}) > 0 "
    "OR JSONExtractString(query, 'event_id') IN "
    "(SELECT event_id FROM plate_events WHERE plate = {plate:String}) ORDER BY ts, audit_id"
)
# Every audit record that searched by plate text; matched against the plate in Python (patterns
# are at most 32 characters, so each test is bounded), streamed block by block.
SEARCHED_SQL = (
    "SELECT ts, actor, role, action, resource, query, result_count, status, client_ip, "
    "request_id, JSONExtractString(query, 'plate') AS searched, "
    "JSONExtractString(query, 'mode') AS mode, JSONExtractFloat(query, 'max_distance') AS dist "
    "FROM audit_log WHERE searched != '' ORDER BY ts, audit_id"
)


@dataclass
class ArchiveRequest:
    """What to export and who asked, written into the manifest."""

    plate: str
    requested_by: str
    purpose: str | None = None
    case_id: str | None = None
    max_images: int = 10_000
    counts: dict[str, int] = field(default_factory=dict)


class _Pipe(io.RawIOBase):
    """A write-only, unseekable file whose bytes are taken out as they arrive."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self.size += len(chunk)
        return len(chunk)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, default=_jsonable, ensure_ascii=False, sort_keys=True) + "\n").encode()


def searched_matches(plate: str, searched: str, mode: str, max_distance: float) -> str | None:
    """How an audited plate query found ``plate``: "exact", "pattern", or None when it did not."""
    mode = mode or "auto"
    if mode == "auto":
        mode = "wildcard" if ("*" in searched or "?" in searched) else "exact"
    if mode == "wildcard":
        pattern = "".join(ch if ch in "*?" else normalise(ch) for ch in searched)
        return "pattern" if pattern and fnmatch.fnmatchcase(plate, pattern) else None
    norm = normalise(searched)
    if not norm:
        return None
    if mode == "exact":
        return "exact" if norm == plate else None
    if mode == "prefix":
        return "pattern" if plate.startswith(norm) else None
    if mode == "fuzzy":
        return "pattern" if plate_distance(norm, plate) <= (max_distance or 1.0) else None
    return None


def entry_matches(plate: str, entry: dict[str, Any]) -> bool:
    """Whether a watchlist entry would hit ``plate`` (regex entries: only when equal to it)."""
    pattern = str(entry.get("pattern") or "")
    kind = entry.get("match_type") or "exact"
    if kind == "wildcard":
        return searched_matches(plate, pattern, "wildcard", 0) is not None
    if kind == "fuzzy":
        return plate_distance(normalise(pattern), plate) <= float(entry.get("max_distance") or 1)
    return normalise(pattern) == plate


def _tables(clickhouse: Any) -> set[str]:
    rows = clickhouse.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    return {str(r[0]) for r in rows.result_rows}


def _stream_rows(clickhouse: Any, sql: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # Small blocks: a block's rows are Python objects (a few KB a row), held while it is written.
    with clickhouse.query_row_block_stream(sql, parameters=params, settings=BLOCK) as stream:
        names = stream.source.column_names
        for block in stream:
            for row in block:
                yield dict(zip(names, row, strict=True))


def _image_keys(row: dict[str, Any], columns: tuple[str, ...]) -> Iterator[str]:
    for col in columns:
        value = row.get(col)
        for key in value if isinstance(value, list | tuple) else [value]:
            if key:
                yield str(key)


def iter_archive(
    req: ArchiveRequest,
    *,
    clickhouse: Any,
    s3: Any,
    bucket: str,
    watchlist_entries: Iterable[dict[str, Any]] = (),
) -> Iterator[bytes]:
    """The archive as a stream of byte chunks; ``req.counts`` holds the counts once it ends."""
    plate = normalise(req.plate)
    if not plate or len(plate) > 32:
        raise BadInputError("plate must have 1-32 letters or digits")
    req.plate = plate
    params = {"plate": plate}
    pipe = _Pipe()
    counts = req.counts
    images: dict[str, None] = {}  # ordered set
    tables = _tables(clickhouse)
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, table, tail, image_cols in SECTIONS:
            if table not in tables:
                continue
            counts[name] = 0
            with zf.open(name, "w", force_zip64=True) as out:
                for row in _stream_rows(clickhouse, f"SELECT * FROM {tail}", params):
                    out.write(_line(row))
                    counts[name] += 1
                    for key in _image_keys(row, image_cols):
                        if len(images) < req.max_images:
                            images[key] = None
                    if pipe.size >= CHUNK:
                        yield pipe.take()
        if "plate_first_last_seen" in tables:
            rows = list(_stream_rows(clickhouse, FIRST_LAST_SQL, params))
            zf.writestr("first_last_seen.jsonl", b"".join(_line(r) for r in rows))
            counts["first_last_seen.jsonl"] = len(rows)
        entries = [e for e in watchlist_entries if entry_matches(plate, e)]
        zf.writestr("watchlist_entries.jsonl", b"".join(_line(e) for e in entries))
        counts["watchlist_entries.jsonl"] = len(entries)
        yield pipe.take()
        yield from _audit_sections(zf, pipe, clickhouse, plate, counts, tables)
        yield from _images(zf, pipe, s3, bucket, images, counts)
        counts["images_capped"] = int(len(images) >= req.max_images)
        manifest = {
            "plate": plate,
            "generated_at_ms": now_ms(),
            "requested_by": req.requested_by,
            "purpose": req.purpose,
            "case_id": req.case_id,
            "counts": counts,
            "note": "Every record platestream holds about this plate; see docs/privacy.md.",
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    yield pipe.take()


def _audit_sections(
    zf: zipfile.ZipFile,
    pipe: _Pipe,
    clickhouse: Any,
    plate: str,
    counts: dict[str, int],
    tables: set[str],
) -> Iterator[bytes]:
    if "audit_log" not in tables:
        return
    params = {"plate": plate}
    counts["audit_entries.jsonl"] = 0
    with zf.open("audit_entries.jsonl", "w", force_zip64=True) as out:
        for row in _stream_rows(clickhouse, ABOUT_SQL, params):
            out.write(_line(row))
            counts["audit_entries.jsonl"] += 1
            if pipe.size >= CHUNK:
                yield pipe.take()
    counts["searched_by.jsonl"] = 0
    with zf.open("searched_by.jsonl", "w", force_zip64=True) as out:
        for row in _stream_rows(clickhouse, SEARCHED_SQL, {}):
            how = searched_matches(plate, row["searched"], row["mode"], float(row["dist"] or 0))
            if how is None:
                continue
            query = json.loads(row["query"] or "{}")
            out.write(
                _line(
                    {
                        "ts": row["ts"],
                        "actor": row["actor"],
                        "role": row["role"],
                        "action": row["action"],
                        "searched": row["searched"],
                        "match": how,
                        "purpose": query.get("purpose"),
                        "case_id": query.get("case_id"),
                        "result_count": row["result_count"],
                        "client_ip": row["client_ip"],
                        "request_id": row["request_id"],
                    }
                )
            )
            counts["searched_by.jsonl"] += 1
            if pipe.size >= CHUNK:
                yield pipe.take()


def _images(
    zf: zipfile.ZipFile,
    pipe: _Pipe,
    s3: Any,
    bucket: str,
    keys: dict[str, None],
    counts: dict[str, int],
) -> Iterator[bytes]:
    counts["images"] = counts["images_missing"] = 0
    for key in keys:
        try:
            check_object_key(key)
            resp = s3.get_object(bucket, key)
        except (BadInputError, ValueError) as exc:
            logger.warning("subject access: image key refused: %s", exc)
            counts["images_missing"] += 1
            continue
        except Exception as exc:  # minio's S3Error and HTTP errors: the object is gone
            logger.info("subject access: image %s not readable: %s", key[:120], type(exc).__name__)
            counts["images_missing"] += 1
            continue
        try:
            with zf.open("images/" + key, "w", force_zip64=True) as out:
                for chunk in resp.stream(CHUNK):
                    out.write(chunk)
                    if pipe.size >= CHUNK:
                        yield pipe.take()
        finally:
            resp.close()
            resp.release_conn()
        counts["images"] += 1
