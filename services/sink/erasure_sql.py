"""What one erasure removes from ClickHouse, in SQL: the plates it names, the image keys and
event ids of their rows, then a DELETE (or, for the audit trail, an UPDATE) per table.

A plate erasure names its plate by subject id (HMAC-SHA256, ``platestream/privacy/erasure.py``),
so the plates are found by computing the same HMAC in ClickHouse over every plate column (the
statement carries the key's inner and outer pads, never a plate). Rows count up to the request's
``before_ts``; the per-plate aggregates (dictionary, variants, grams, first/last seen) hold no time
of their own and lose the plate whole. An event erasure removes every version of the event, its
reads, alerts and corrections, and the aggregates of a plate left with no event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from platestream.errors import BadInputError
from platestream.images import image_key
from platestream.privacy.erasure import hmac_pads

logger = logging.getLogger(__name__)

# Every table a plate can be in, with the condition that selects the rows of the plates {ps}
# (and of the events {eids}) seen up to {before}. Order matters only for readability: each is
# its own statement. The audit trail is not deleted (who searched, when and why stays); its
# plate query is blanked (AUDIT_UPDATE).
_TS = "ts <= fromUnixTimestamp64Milli({before:Int64})"
PLATE_TABLES: tuple[tuple[str, str], ...] = (
    ("plate_events", "event_id IN {eids:Array(String)}"),
    ("plate_event_index", "event_id IN {eids:Array(String)}"),
    ("plate_event_superseded", "event_id IN {eids:Array(String)}"),
    (
        "plate_reads",
        f"(plate IN {{ps:Array(String)}} OR hasAny(candidate_plates, {{ps:Array(String)}}) "
        f"OR read_id IN {{rids:Array(String)}}) AND {_TS}",
    ),
    (
        "camera_events",
        f"(plate IN {{ps:Array(String)}} OR hasAny(candidate_plates, {{ps:Array(String)}})) "
        f"AND {_TS}",
    ),
    ("alerts", f"(plate IN {{ps:Array(String)}} OR event_id IN {{eids:Array(String)}}) AND {_TS}"),
    (
        "corrections",
        "plate IN {ps:Array(String)} OR previous_plate IN {ps:Array(String)} "
        "OR event_id IN {eids:Array(String)}",
    ),
    (
        "anomalies",
        f"(plate IN {{ps:Array(String)}} OR first_plate IN {{ps:Array(String)}} "
        f"OR second_plate IN {{ps:Array(String)}}) AND {_TS}",
    ),
)
AGGREGATES = (
    "plate_dictionary",
    "plate_dictionary_reversed",
    "plate_variants",
    "plate_grams",
    "plate_first_last_seen",
)
_AUDIT_PLATE = "replaceRegexpAll(upper(JSONExtractString(query, 'plate')), '[^A-Z0-9]', '')"
AUDIT_UPDATE = (
    "ALTER TABLE audit_log UPDATE query = replaceRegexpAll(query, "
    '\'"plate"\\\\s*:\\\\s*"[^"]*"\', \'"plate":"[erased]"\') '
    f"WHERE {_AUDIT_PLATE} IN {{ps:Array(String)}} AND {_TS} SETTINGS mutations_sync = 2"
)
# Plate columns an erased plate can be found in (its text, however it was read or corrected).
_PLATE_SOURCES = (
    "SELECT plate AS p FROM plate_dictionary",
    "SELECT arrayJoin(variants) AS p FROM plate_events",
    "SELECT plate AS p FROM plate_reads",
    "SELECT arrayJoin(candidate_plates) AS p FROM plate_reads",
    "SELECT plate AS p FROM camera_events",
    "SELECT arrayJoin(candidate_plates) AS p FROM camera_events",
    "SELECT plate AS p FROM alerts",
    "SELECT assumeNotNull(plate) AS p FROM corrections WHERE plate IS NOT NULL",
    "SELECT assumeNotNull(previous_plate) AS p FROM corrections WHERE previous_plate IS NOT NULL",
    "SELECT plate AS p FROM anomalies",
    "SELECT first_plate AS p FROM anomalies",
    "SELECT second_plate AS p FROM anomalies",
)
# HMAC-SHA256 of the plate text ``p`` from the key's two pads (RFC 2104), as hex; the pads are
# filled in as query parameters here and as literals by the pass-through (passthrough.py)
HMAC_OF_P = "lower(hex(SHA256(concat(unhex({opad}), SHA256(concat(unhex({ipad}), p))))))"
_HMAC = HMAC_OF_P.format(opad="{opad:String}", ipad="{ipad:String}")
RESOLVE_SQL = (
    "SELECT DISTINCT p FROM (" + " UNION ALL ".join(_PLATE_SOURCES) + ") "
    f"WHERE p != '' AND {_HMAC} = {{sid:String}}"
)
EVENTS_SQL = (
    "SELECT DISTINCT event_id FROM plate_events "
    f"WHERE (plate IN {{ps:Array(String)}} OR hasAny(variants, {{ps:Array(String)}})) AND {_TS}"
)
READS_OF_EVENTS_SQL = (
    "SELECT DISTINCT arrayJoin(read_ids) FROM plate_events WHERE event_id IN {eids:Array(String)}"
)
# Image keys of the rows an erasure removes (the sink and detect wrote them under these keys).
IMAGES_SQL = (
    "SELECT arrayJoin(arrayConcat(image_keys, if(best_crop_key IS NULL, [], "
    "[assumeNotNull(best_crop_key)]))) FROM plate_events WHERE event_id IN {eids:Array(String)}",
    "SELECT assumeNotNull(crop_key) FROM plate_reads WHERE crop_key IS NOT NULL AND ("
    + PLATE_TABLES[3][1]
    + ")",
    "SELECT arrayJoin(image_keys) FROM camera_events WHERE " + PLATE_TABLES[4][1],
    "SELECT assumeNotNull(crop_s3_key) FROM alerts WHERE crop_s3_key IS NOT NULL AND ("
    + PLATE_TABLES[5][1]
    + ")",
)


# The frames the erased reads were read from, when ingest stored them in the bucket (claim check):
# their keys follow from the read (platestream.images.image_key), they are in no row.
FRAMES_SQL = (
    "SELECT camera_id, toUnixTimestamp64Milli(ts), frame_id FROM plate_reads WHERE "
    + PLATE_TABLES[3][1]
)


def frame_keys(rows: Iterable[tuple[str, int, str]]) -> list[str]:
    """Bucket keys of the frames of reads (camera, time in ms, frame id); unusable ones skipped."""
    keys = []
    for camera_id, ts_ms, frame_id in rows:
        try:
            keys.append(image_key("frames", camera_id, int(ts_ms), frame_id, "frame"))
        except BadInputError:  # such a read has no frame in the bucket either
            continue
    return keys


@dataclass
class Outcome:
    """What one erasure removed."""

    rows: dict[str, int] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    plates: int = 0
    reindexed: int = 0  # later passages of an erased plate whose aggregates were rebuilt
    frames: list[tuple[str, str, int]] = field(default_factory=list)  # (camera, frame id, ms)
    misreads: list[str] = field(default_factory=list)  # plates only the erased one was read as


def _column(client: Any, sql: str, params: dict[str, Any]) -> list[Any]:
    return [row[0] for row in client.query(sql, parameters=params).result_rows]


def _count_and_delete(client: Any, table: str, where: str, params: dict[str, Any]) -> int:
    n = int(
        client.query(f"SELECT count() FROM {table} WHERE {where}", parameters=params).result_rows[
            0
        ][0]
    )
    if n:
        client.command(f"DELETE FROM {table} WHERE {where}", parameters=params)
    return n


def existing_tables(client: Any) -> set[str]:
    return set(
        _column(client, "SELECT name FROM system.tables WHERE database = currentDatabase()", {})
    )


def erase_rows(
    client: Any,
    *,
    key: str,
    request: dict[str, Any],
    tables: Iterable[str] | None = None,
) -> Outcome:
    """Delete from ClickHouse what ``request`` (an ``erasure_request``) covers; idempotent (a
    request run twice finds nothing the second time). ``client`` is a clickhouse-connect client
    whose database is the sink's."""
    present = set(tables) if tables is not None else existing_tables(client)
    ipad, opad = (pad.hex() for pad in hmac_pads(key))
    params: dict[str, Any] = {"before": int(request["before_ts"]), "ps": [], "eids": [], "rids": []}
    out = Outcome()
    if request["scope"] == "plate":
        params["ps"] = _column(
            client, RESOLVE_SQL, {"sid": request["subject_id"], "ipad": ipad, "opad": opad}
        )
        out.plates = len(params["ps"])
        if not params["ps"]:
            return out
        params["eids"] = _column(client, EVENTS_SQL, params)
        # the reads of its passages, whatever text each was read as (a misread is this vehicle's)
        params["rids"] = _column(client, READS_OF_EVENTS_SQL, params)
    else:
        params["eids"] = [request["event_id"]]
        params["rids"] = list(request.get("read_ids") or ())
    for sql in IMAGES_SQL:
        out.images.extend(k for k in _column(client, sql, params) if k)
    frames = client.query(FRAMES_SQL, parameters=params).result_rows
    out.images.extend(frame_keys(frames))
    out.frames = [(str(c), str(f), int(t)) for c, t, f in frames if f]
    # every plate the erased events were read as (a correction, a misread variant)
    event_plates = _column(
        client,
        "SELECT DISTINCT p FROM (SELECT plate AS p FROM plate_events "
        "WHERE event_id IN {eids:Array(String)} UNION ALL SELECT arrayJoin(variants) AS p "
        "FROM plate_events WHERE event_id IN {eids:Array(String)})",
        params,
    )
    for table, where in PLATE_TABLES:
        if table in present:
            out.rows[table] = _count_and_delete(client, table, where, params)
    if request["scope"] == "plate" and "audit_log" in present:
        client.command(AUDIT_UPDATE, parameters=params)
    # The erased plate loses its aggregates whole; the other plates its events were read as only
    # where no event is left that has them.
    others = [p for p in event_plates if p not in params["ps"]]
    still = set(
        _column(
            client,
            "SELECT DISTINCT arrayJoin(arrayPushFront(variants, plate)) AS p FROM plate_events "
            "WHERE plate IN {ps:Array(String)} OR hasAny(variants, {ps:Array(String)})",
            {"ps": others},
        )
        if others
        else ()
    )
    misreads = [p for p in others if p not in still]
    if request["scope"] == "plate":  # texts only the erased plate's passages were read as
        out.misreads = misreads
    aggregate_plates = [*params["ps"], *misreads]
    for table in AGGREGATES:
        if table in present and aggregate_plates:
            out.rows[table] = _count_and_delete(
                client, table, "plate IN {ps:Array(String)}", {"ps": aggregate_plates}
            )
    if aggregate_plates:
        # Passages of those plates seen after the request (or a request carried out again, in a
        # rebuild, after they were stored) keep their aggregates: inserting their rows again makes
        # the views rebuild them (the copies collapse on the passage's id and version).
        out.reindexed = int(
            client.query(
                "SELECT count() FROM plate_events WHERE plate IN {ps:Array(String)}",
                parameters={"ps": aggregate_plates},
            ).result_rows[0][0]
        )
        if out.reindexed:
            client.command(
                "INSERT INTO plate_events SELECT * FROM plate_events "
                "WHERE plate IN {ps:Array(String)}",
                parameters={"ps": aggregate_plates},
            )
    out.images = sorted(set(out.images))
    return out
