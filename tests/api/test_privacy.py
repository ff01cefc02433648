"""Subject access (issue 17 item 4): the archive of one plate, by the admin API and by
`platestream privacy export`, against the real sink, ClickHouse, bucket and broker."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import pytest
from typer.testing import CliRunner

from platestream import topics as catalogue

from .helpers import ApiEnv, audit_records, wait_until

pytestmark = pytest.mark.integration

PLATE = "ABC1234"


def _lines(zf: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in zf.read(name).decode().splitlines() if line]


def _search(env: ApiEnv, role: str, rid: str, **params: Any) -> None:
    r = env.http.get(
        "/api/v1/events",
        params={"purpose": "investigation", "case_id": "CASE-7", **params},
        headers={"Authorization": f"Bearer {env.tokens[role]}", "X-Request-ID": rid},
    )
    assert r.status_code == 200, r.text


def _projected(env: ApiEnv, rids: list[str]) -> bool:
    n = env.state.clickhouse.command(
        "SELECT count() FROM audit_log WHERE request_id IN {r:Array(String)}",
        parameters={"r": rids},
    )
    return int(n) >= len(rids)


@pytest.fixture(scope="module")
def searched(api_env: ApiEnv) -> dict[str, str]:
    """Searches that found the plate (exactly, by pattern, fuzzily) and one that did not, projected
    to ClickHouse; a watchlist entry that hits the plate."""
    tag = uuid.uuid4().hex[:8]
    rids = {
        "exact": f"sar-exact-{tag}",
        "wildcard": f"sar-wild-{tag}",
        "fuzzy": f"sar-fuzzy-{tag}",
        "other": f"sar-other-{tag}",
    }
    _search(api_env, "admin", rids["exact"], plate="abc-1234")
    _search(api_env, "analyst", rids["wildcard"], plate="AB?12*")
    _search(api_env, "viewer", rids["fuzzy"], plate="ABC1284", mode="fuzzy")
    _search(api_env, "viewer", rids["other"], plate="XYZ9876")
    rids["view"] = f"sar-view-{tag}"
    event_id = api_env.seed.by_plate(PLATE)[0]["event_id"]
    view = api_env.get(f"/api/v1/events/{event_id}", headers={"X-Request-ID": rids["view"]})
    assert view.status_code == 200
    wait_until(lambda: _projected(api_env, list(rids.values())), 60, "the audit rows")
    entry = api_env.post(
        "/api/v1/watchlists/entries",
        "operator",
        json={"list_id": f"sar-{tag}", "match_type": "wildcard", "pattern": "ABC12*"},
    )
    assert entry.status_code == 201, entry.text
    rids["entry"] = entry.json()["entry_id"]
    return rids


def test_subject_access_archive_holds_records_images_audit_and_searches(
    api_env: ApiEnv, searched: dict[str, str]
) -> None:
    r = api_env.http.get(
        "/api/v1/privacy/subject-access",
        params={"plate": "abc 1234", "purpose": "subject_access", "case_id": "SAR-2026-1"},
        headers={"Authorization": f"Bearer {api_env.tokens['admin']}", "X-Request-ID": "sar-1"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["plate"] == PLATE and manifest["case_id"] == "SAR-2026-1"
    assert manifest["requested_by"] == "user:admin"

    events = _lines(zf, "plate_events.jsonl")
    seeded = {e["event_id"] for e in api_env.seed.by_plate(PLATE)}
    # every passage stored of the plate: the seed's, and any an earlier test's enrich made again
    # from the seed's reads (tests/api/test_console_upload_pipeline.py starts one at "earliest")
    assert {e["event_id"] for e in events} == _stored_event_ids(api_env, PLATE) >= seeded
    assert all(e["plate"] == PLATE or PLATE in e["variants"] for e in events)
    reads = _lines(zf, "plate_reads.jsonl")
    of_passages = {rid for e in events for rid in e["read_ids"]}
    assert reads and all(
        x["plate"] == PLATE or PLATE in x["candidate_plates"] or x["read_id"] in of_passages
        for x in reads
    )
    assert {a["plate"] for a in _lines(zf, "alerts.jsonl")} <= {PLATE}
    for name, count in manifest["counts"].items():
        if name.endswith(".jsonl"):
            assert len(_lines(zf, name)) == count, name

    # the images the rows reference, byte for byte as the sink stored them
    for e in (e for e in events if e["event_id"] in seeded):
        stored = zf.read("images/" + e["best_crop_key"])
        assert stored == api_env.seed.crops[e["event_id"]]
    assert manifest["counts"]["images"] >= len(seeded)

    # who searched for it: exact and pattern matches, with their purpose; not the other plate
    log = {x["request_id"]: x for x in _lines(zf, "searched_by.jsonl")}
    assert log[searched["exact"]]["match"] == "exact"
    assert log[searched["exact"]]["actor"] == "user:admin"
    assert log[searched["wildcard"]]["match"] == "pattern"
    assert log[searched["fuzzy"]]["match"] == "pattern"
    assert log[searched["wildcard"]]["purpose"] == "investigation"
    assert log[searched["wildcard"]]["case_id"] == "CASE-7"
    assert searched["other"] not in log
    about = {x["request_id"] for x in _lines(zf, "audit_entries.jsonl")}
    assert {searched["exact"], searched["view"]} <= about
    assert searched["other"] not in about and searched["wildcard"] not in about
    entries = _lines(zf, "watchlist_entries.jsonl")
    assert searched["entry"] in {x["entry_id"] for x in entries}

    # the export itself is audited, with its reason, before the first byte
    rec = next(x for x in audit_records(api_env) if x["request_id"] == "sar-1")
    assert rec["action"] == "subject_access" and rec["purpose"] == "subject_access"
    assert rec["case_id"] == "SAR-2026-1" and json.loads(rec["query"])["plate"] == PLATE


def _stored_event_ids(env: ApiEnv, plate: str) -> set[str]:
    from platestream.clickhouse import make_clickhouse

    ch = make_clickhouse(env.settings, autogenerate_session_id=False)
    rows = ch.query(
        "SELECT DISTINCT event_id FROM plate_events"
        " WHERE plate = {p:String} OR has(variants, {p:String})",
        parameters={"p": plate},
    ).result_rows
    return {str(r[0]) for r in rows}


def test_subject_access_is_admin_only(api_env: ApiEnv) -> None:
    for role in ("analyst", "operator", "viewer"):
        r = api_env.get("/api/v1/privacy/subject-access", role, params={"plate": PLATE})
        assert r.status_code == 403, role
    r = api_env.get("/api/v1/privacy/subject-access", params={"plate": "---"})
    assert r.status_code == 422


def _env_of(settings: Any) -> dict[str, str]:
    out = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[f"PLATESTREAM_{name.upper()}"] = text
    return out


def test_cli_export_writes_the_same_records_and_is_audited(
    api_env: ApiEnv, searched: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platestream.cli import app
    from platestream.settings import CommonSettings

    common = CommonSettings(**api_env.settings.model_dump(include=set(CommonSettings.model_fields)))
    for key, value in _env_of(common).items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "sar.zip"
    result = CliRunner().invoke(
        app, ["privacy", "export", "--plate", PLATE, "--out", str(out), "--case-id", "SAR-CLI"]
    )
    assert result.exit_code == 0, result.output
    zf = zipfile.ZipFile(out)
    stored = _stored_event_ids(api_env, PLATE)  # the seed's and any made again from its reads
    assert {e["event_id"] for e in _lines(zf, "plate_events.jsonl")} == stored
    assert searched["entry"] in {x["entry_id"] for x in _lines(zf, "watchlist_entries.jsonl")}
    assert searched["wildcard"] in {x["request_id"] for x in _lines(zf, "searched_by.jsonl")}
    recs = wait_until(
        lambda: [
            x
            for x in audit_records(api_env)
            if x["action"] == "subject_access" and x["case_id"] == "SAR-CLI"
        ],
        20,
        "the CLI's audit record",
    )
    assert recs[0]["actor"].startswith("cli:") and recs[0]["purpose"] == "subject_access"
    assert catalogue.AUDIT.name in api_env.settings.topic(catalogue.AUDIT.name)
