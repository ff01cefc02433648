"""Erasure that survives replay (issue 17 item 2), on the real broker, bucket and ClickHouse
(the ledger's rules alone: tests/privacy/test_erasure_ledger.py).

A plate's records of every kind (passages with their versions, reads, camera events, alerts,
corrections, anomalies, an audit record of a search for it) and their images are stored by the
sink; an erasure request on ``anpr.erasures.v1`` removes every row and image of the plate seen up
to the request, blanks the plate in the audit record and leaves other plates untouched. Then the
log is replayed (the same records produced again) and rebuilt (a new database from the start of
every topic): the erased records stay gone, while a sighting after the erasure is stored.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from platestream import topics as catalogue
from platestream.images import image_key
from platestream.kafka import make_producer
from platestream.privacy.erasure import (
    ERASED_MARK,
    event_request,
    plate_request,
    subject_id,
)
from platestream.s3 import make_s3
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.imagekeys import image_slots
from services.sink.s3_sink import ensure_bucket_with_lifecycle
from tests.sink.helpers import migrated, produce, scalar, sink_settings, sink_thread, wait_until

ERASED, KEPT, OTHER = "ERA5E01", "KEEP001", "OTHER02"
KEY = "test-subject-key"


def _records(base: int) -> dict[str, list[dict[str, Any]]]:
    """Records of ERASED (index 1), KEPT (2) and OTHER (3) of every kind, with inline images."""
    out: dict[str, list[dict[str, Any]]] = {}
    plates = {1: ERASED, 2: KEPT, 3: OTHER}
    events, reads, cams, alerts, fixes, anomalies = [], [], [], [], [], []
    for i, plate in plates.items():
        e = samples.plate_event(i, base_ts=base, with_images=True, plate=plate)
        e["variants"] = [plate]
        events.append(e)
        r = samples.plate_read(i, base_ts=base, with_crop=True)
        r.update(plate=plate, plate_raw=plate, candidates=[])
        reads.append(r)
        c = samples.camera_event(i, base_ts=base, with_images=True)
        c["plate"] = plate
        cams.append(c)
        a = samples.alert(i, base_ts=base)
        a.update(plate=plate, pattern=plate)
        alerts.append(a)
        f = samples.correction(i, base_ts=base)
        f.update(plate=plate, previous_plate=plate, action="confirm")
        fixes.append(f)
        n = samples.anomaly(i, base_ts=base)
        n["plate"] = plate
        for side in ("first", "second"):
            n[side] = {**n[side], "plate": plate, "variants": [plate]}
        anomalies.append(n)
    # a second version of the erased passage (a correction from another reading of it)
    events.append({**events[0], "version": 2, "plate": "ERA5E0I", "variants": [ERASED, "ERA5E0I"]})
    out["plate_events"] = events
    out["plate_reads"] = reads
    out["camera_events"] = cams
    out["alerts"] = alerts
    out["corrections"] = fixes
    out["anomalies"] = anomalies
    search = samples.audit(1, base_ts=base)
    search["query"] = json.dumps({"plate": "era-5e01", "mode": "exact"})
    other_search = samples.audit(2, base_ts=base)
    other_search["query"] = json.dumps({"plate": KEPT, "mode": "exact"})
    out["audit_log"] = [search, other_search]
    return out


def _publish(settings: Any, rec: dict[str, Any]) -> None:
    topic = settings.topic(catalogue.ERASURES.name)
    value = AvroSerde(settings.schema_registry_url).encode(
        catalogue.ERASURES.schema, rec, subject=f"{topic}-value"
    )
    producer = make_producer(settings)
    producer.produce(topic, key=rec["erasure_id"].encode(), value=value)
    assert producer.flush(30) == 0


def _rows_of(ch: Any, db: str, plate: str) -> dict[str, int]:
    """Rows that name ``plate`` anywhere, per table (the subject-access conditions)."""
    p = f"'{plate}'"
    checks = {
        "plate_events": f"plate = {p} OR has(variants, {p})",
        "plate_event_index": f"plate = {p}",
        "plate_reads": f"plate = {p} OR has(candidate_plates, {p})",
        "camera_events": f"plate = {p}",
        "alerts": f"plate = {p}",
        "corrections": f"plate = {p} OR previous_plate = {p}",
        "anomalies": f"plate = {p} OR first_plate = {p} OR second_plate = {p}",
        "plate_dictionary": f"plate = {p}",
        "plate_dictionary_reversed": f"plate_reversed = reverseUTF8({p})",
        "plate_variants": f"plate = {p}",
        "plate_grams": f"plate = {p}",
        "plate_first_last_seen": f"plate = {p}",
        "audit_log": f"position(upper(replaceAll(query, '-', '')), {p}) > 0",
    }
    return {t: scalar(ch, f"SELECT count() FROM `{db}`.{t} WHERE {w}") for t, w in checks.items()}


# The tables a passage of the plate seen after the erasure request is (and stays) in.
LATER = {
    "plate_events",
    "plate_event_index",
    "plate_dictionary",
    "plate_dictionary_reversed",
    "plate_variants",
    "plate_grams",
    "plate_first_last_seen",
}


def _events_of(ch: Any, db: str, plate: str) -> set[str]:
    sql = f"SELECT DISTINCT event_id FROM `{db}`.plate_events WHERE plate = '{plate}'"
    return {r[0] for r in ch.query(sql).result_rows}


def _image_keys(records: dict[str, list[dict[str, Any]]], plate: str) -> list[str]:
    schemas = {
        "plate_events": "plate_event",
        "plate_reads": "plate_read",
        "camera_events": "camera_event",
    }
    keys = []
    for table, schema in schemas.items():
        for rec in records[table]:
            if rec.get("plate") == plate:
                keys += [s.key for s in image_slots(schema, rec) if s.data is not None]
    return keys


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.stat_object(bucket, key)
        return True
    except Exception:
        return False


@pytest.mark.integration
def test_an_erased_plate_is_gone_from_every_store_and_stays_gone_after_replay_and_rebuild(
    settings: Any,
) -> None:
    s = sink_settings(settings, privacy_subject_key=KEY)
    ch = migrated(s)
    db = s.clickhouse_database
    s3 = make_s3(s)
    ensure_bucket_with_lifecycle(s3, s.s3_bucket, 30)
    base = now_ms() - 3_600_000
    records = _records(base)
    # the plate seen again after the request's time (40 min after the erased records, the request
    # at 30): stored before the request is carried out, it keeps its rows and aggregates
    seen_again = samples.plate_event(8, base_ts=base + 2_400_000, plate=ERASED)
    records["plate_events"].append(seen_again)
    for table, recs in records.items():
        produce(s, table, recs)
    erased_keys, kept_keys = _image_keys(records, ERASED), _image_keys(records, KEPT)
    # the frames the reads came from, as ingest stores them for detect (claim check): in no row
    for read in records["plate_reads"][:2]:
        key = image_key("frames", read["camera_id"], read["ts"], read["frame_id"], "frame")
        s3.put_object(s.s3_bucket, key, io.BytesIO(samples.TINY_JPEG), len(samples.TINY_JPEG))
        (erased_keys if read["plate"] == ERASED else kept_keys).append(key)
    assert len(erased_keys) >= 4 and kept_keys

    with sink_thread(s, {"clickhouse", "s3"}):
        wait_until(
            lambda: (
                all(_rows_of(ch, db, ERASED).values())
                and all(_exists(s3, s.s3_bucket, k) for k in erased_keys + kept_keys)
            ),
            90,
            "every record and image stored",
        )
        kept_before = _rows_of(ch, db, KEPT)
        request = plate_request(
            "era-5e 01", key=KEY, actor="user:dpo", purpose="subject_access", ts=base + 1_800_000
        )
        _publish(s, request)
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM `{db}`.erasures") == 1,
            60,
            "the erasure carried out",
        )
        rows = _rows_of(ch, db, ERASED)
        assert {t: n for t, n in rows.items() if t not in LATER} == dict.fromkeys(
            set(rows) - LATER, 0
        )
        assert _events_of(ch, db, ERASED) == {seen_again["event_id"]}
        assert all(rows[t] > 0 for t in LATER), rows  # its aggregates rebuilt
        assert _rows_of(ch, db, KEPT) == kept_before  # other plates intact
        assert not any(_exists(s3, s.s3_bucket, k) for k in erased_keys)
        assert all(_exists(s3, s.s3_bucket, k) for k in kept_keys)
        queries = [r[0] for r in ch.query(f"SELECT query FROM `{db}`.audit_log").result_rows]
        assert sorted(json.loads(q)["plate"] for q in queries) == sorted([ERASED_MARK, KEPT])
        done = ch.query(
            f"SELECT scope, subject_id, actor, rows_deleted, images_deleted FROM `{db}`.erasures"
        ).result_rows[0]
        assert done[:3] == ("plate", subject_id(ERASED, KEY), "user:dpo")
        # both versions (or one, where the ReplacingMergeTree has merged them already)
        assert done[3]["plate_events"] in (1, 2) and done[3]["plate_reads"] == 1
        assert done[3]["plate_dictionary"] >= 2  # ERA5E01 and the ERA5E0I it was corrected to
        assert (
            scalar(ch, f"SELECT count() FROM `{db}`.plate_dictionary WHERE plate = 'ERA5E0I'") == 0
        )
        assert done[4] == len(erased_keys)
        assert ERASED not in json.dumps(done, default=str)

        # A replay: the same records produced again, and a sighting after the erasure.
        for table, recs in records.items():
            produce(s, table, recs)
        later = samples.plate_event(9, base_ts=now_ms(), plate=ERASED)
        produce(s, "plate_events", [later])
        wait_until(
            lambda: (
                scalar(
                    ch,
                    f"SELECT count() FROM `{db}`.plate_events WHERE event_id = '{later['event_id']}'",
                )
                == 1
            ),
            60,
            "the later sighting",
        )
        # the replayed records were read before the later one on its partition: not stored
        assert _events_of(ch, db, ERASED) == {seen_again["event_id"], later["event_id"]}
        assert scalar(ch, f"SELECT count() FROM `{db}`.plate_reads WHERE plate = '{ERASED}'") == 0
        assert not any(_exists(s3, s.s3_bucket, k) for k in erased_keys)

        # One event: every version of KEPT's passage goes, its other records stay.
        kept_event = records["plate_events"][1]
        _publish(s, event_request(kept_event["event_id"], kept_event["read_ids"], actor="user:dpo"))
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM `{db}`.erasures") == 2,
            60,
            "the event erasure",
        )
        assert scalar(ch, f"SELECT count() FROM `{db}`.plate_events WHERE plate = '{KEPT}'") == 0
        assert (
            scalar(ch, f"SELECT count() FROM `{db}`.plate_dictionary WHERE plate = '{KEPT}'") == 0
        )
        assert (
            scalar(
                ch, f"SELECT uniqExact(event_id) FROM `{db}`.camera_events WHERE plate = '{KEPT}'"
            )
            == 1
        )
        assert _rows_of(ch, db, OTHER)["plate_events"] >= 1

    # A rebuild: a new database, every topic read again from its start.
    rebuilt = sink_settings(
        settings,
        privacy_subject_key=KEY,
        clickhouse_database=f"{db}_rebuilt",
        sink_group_clickhouse=f"{s.sink_group_clickhouse}-rebuild",
        sink_group_s3=f"{s.sink_group_s3}-rebuild",
        sink_group_erasure=f"{s.sink_group_erasure}-rebuild",
    )
    ch2 = migrated(rebuilt)
    db2 = rebuilt.clickhouse_database
    try:
        with sink_thread(rebuilt, {"clickhouse", "s3"}):
            wait_until(
                lambda: (
                    scalar(ch2, f"SELECT count() FROM `{db2}`.erasures") == 2
                    and _rows_of(ch2, db2, OTHER)["anomalies"] >= 1
                    and scalar(ch2, f"SELECT uniqExact(audit_id) FROM `{db2}`.audit_log") == 2
                    and len(_events_of(ch2, db2, ERASED)) == 2
                ),
                90,
                "the rebuild",
            )
        after = _rows_of(ch2, db2, ERASED)
        assert _events_of(ch2, db2, ERASED) == {seen_again["event_id"], later["event_id"]}
        assert all(after[t] > 0 for t in LATER), after  # the later ones keep their aggregates
        assert {
            t: n
            for t, n in after.items()
            if t not in ("plate_events", "plate_event_index")
            and not t.startswith(
                ("plate_dictionary", "plate_variants", "plate_grams", "plate_first_last_seen")
            )
        } == {
            "plate_reads": 0,
            "camera_events": 0,
            "alerts": 0,
            "corrections": 0,
            "anomalies": 0,
            "audit_log": 0,
        }
        assert scalar(ch2, f"SELECT count() FROM `{db2}`.plate_events WHERE plate = '{KEPT}'") == 0
        other = _rows_of(ch2, db2, OTHER)
        assert all(n > 0 for t, n in other.items() if t != "audit_log"), other
        assert not any(_exists(s3, s.s3_bucket, k) for k in erased_keys)
    finally:
        ch2.command(f"DROP DATABASE IF EXISTS `{db2}`")


@pytest.mark.integration
def test_a_request_no_stage_can_act_on_is_dead_lettered_and_the_next_one_carried_out(
    settings: Any,
) -> None:
    from tests.sink.helpers import dead_letters

    s = sink_settings(settings, privacy_subject_key=KEY)
    ch = migrated(s)
    db = s.clickhouse_database
    topic = s.topic(catalogue.ERASURES.name)
    producer = make_producer(s)
    producer.produce(topic, key=b"junk", value=b"\x00not avro at all")
    bad = {**plate_request(ERASED, key=KEY, actor="user:a"), "subject_id": "not-a-hash"}
    _publish(s, bad)
    assert producer.flush(30) == 0
    good = plate_request(OTHER, key=KEY, actor="user:a")
    _publish(s, good)
    with sink_thread(s, {"clickhouse"}):
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM `{db}`.erasures") == 1, 60, "the good one"
        )
        dlq = dead_letters(s, 2)
    assert scalar(ch, f"SELECT erasure_id FROM `{db}`.erasures") == good["erasure_id"]
    reasons = sorted(d["error"] for d in dlq)
    assert len(reasons) == 2 and any("64 lower-case hex" in r for r in reasons), reasons
