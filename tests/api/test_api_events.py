"""Reading plate events through the API on the live stack: search (exact, prefix, wildcard,
fuzzy with confusables, filters, keyset pagination, bad input), thumbnails, the event view with
its reads and presigned image, the latest corrected version wins, CSV and JSONL export, the
plate timeline, stats, and the audit records of search, export and image view.

Runs before test_api_management.py (name order), whose corrections change seeded plates.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest

from platestream import topics as catalogue
from platestream.timeutil import iso_utc

from .helpers import ApiEnv, audit_records, produce, wait_until

pytestmark = pytest.mark.integration


def plates_of(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [e["plate"] for e in resp.json()["items"]]


def test_search_exact_prefix_wildcard(api_env: ApiEnv) -> None:
    assert plates_of(api_env.get("/api/v1/events", params={"plate": "abc-1234"})) == ["ABC1234"] * 3
    assert sorted(
        plates_of(api_env.get("/api/v1/events", params={"plate": "AB", "mode": "prefix"}))
    ) == ["AB51234", "ABC1234", "ABC1234", "ABC1234", "ABD1234"]
    assert sorted(set(plates_of(api_env.get("/api/v1/events", params={"plate": "AB?12*"})))) == [
        "AB51234",
        "ABC1234",
        "ABD1234",
    ]
    assert plates_of(api_env.get("/api/v1/events", params={"plate": "*9876"})) == ["XYZ9876"]


def test_search_fuzzy_with_confusables_sorted_by_score(api_env: ApiEnv) -> None:
    r = api_env.get(
        "/api/v1/events",
        params={"plate": "ABC1234", "mode": "fuzzy", "sort": "score", "max_distance": 1},
    )
    items = r.json()["items"]
    got = [(e["plate"], e["distance"]) for e in items]
    # exact first, then the confusable B/8 and B/5 swaps (0.4), then one ordinary substitution (1.0)
    assert got[:3] == [("ABC1234", 0.0)] * 3
    assert sorted(got[3:]) == [("A8C1234", 0.4), ("AB51234", 1.0), ("ABD1234", 1.0)] or sorted(
        got[3:]
    ) == [("A8C1234", 0.4), ("AB51234", 0.4), ("ABD1234", 1.0)]
    assert [d for _p, d in got] == sorted(d for _p, d in got)
    strict = api_env.get(
        "/api/v1/events", params={"plate": "ABC1234", "mode": "fuzzy", "max_distance": 0.5}
    )
    assert "ABD1234" not in plates_of(strict) and "A8C1234" in plates_of(strict)


def _seed_span(api_env: ApiEnv) -> dict[str, str]:
    """The seed's own minutes: other tests of the session store events in the shared database
    too (the erasure tests, minutes ago), which a search rightly finds."""
    ts = [e["ts"] for e in api_env.seed.events]
    return {"since": iso_utc(min(ts)), "until": iso_utc(max(ts) + 1000)}


def test_search_filters(api_env: ApiEnv) -> None:
    seed = api_env.seed

    t0 = seed.base_ts
    span = _seed_span(api_env)

    def expect(**params: Any) -> list[str]:
        r = api_env.get("/api/v1/events", params={**span, **params, "limit": 500})
        assert r.status_code == 200, r.text
        return sorted(e["event_id"] for e in r.json()["items"])

    def where(pred: Any) -> list[str]:
        return sorted(e["event_id"] for e in seed.events if pred(e))

    def ids(plate: str) -> list[str]:
        return sorted(e["event_id"] for e in seed.by_plate(plate))

    assert expect(camera=["cam-a", "cam-c"]) == where(
        lambda e: e["camera_id"] in ("cam-a", "cam-c")
    )
    assert expect(site="south") == where(lambda e: e["site"] == "south")
    assert expect(direction="leaving") == where(lambda e: e["direction"] == "leaving")
    assert expect(vehicle_type="truck") == ids("ABD1234")
    assert expect(vehicle_color="red", camera="cam-b") == where(
        lambda e: e["vehicle_color"] == "red" and e["camera_id"] == "cam-b"
    )
    assert expect(min_confidence=0.95) == where(lambda e: e["confidence"] >= 0.95 - 1e-6)
    assert expect(watchlist_only=True) == ids("XYZ9876")
    assert expect(since=iso_utc(t0 + 20_000), until=iso_utc(t0 + 50_000)) == where(
        lambda e: t0 + 20_000 <= e["ts"] < t0 + 50_000
    )


def test_search_keyset_pagination_covers_everything_once(api_env: ApiEnv) -> None:
    for sort in ("time", "score"):
        seen: list[str] = []
        cursor = None
        for _ in range(20):
            params: dict[str, Any] = {"limit": 7, "sort": sort, **_seed_span(api_env)}
            if cursor:
                params["cursor"] = cursor
            page = api_env.get("/api/v1/events", params=params).json()
            seen += [e["event_id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(e["event_id"] for e in api_env.seed.events), sort
    page = api_env.get("/api/v1/events", params={"limit": 5}).json()["items"]
    assert [e["ts"] for e in page] == sorted((e["ts"] for e in page), reverse=True)


def test_search_rejects_bad_input_with_reasons(api_env: ApiEnv) -> None:
    for params in (
        {"cursor": "garbage!!"},
        {"plate": "---"},
        {"limit": 0},
        {"since": "yesterday"},
        {"plate": "A%B", "mode": "wildcard"},
        {"sort": "random"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ):
        r = api_env.get("/api/v1/events", params=params)
        assert r.status_code == 422, (params, r.status_code, r.text)
        assert r.json()["detail"]


def test_search_results_carry_thumbnails_that_load(api_env: ApiEnv) -> None:
    item = api_env.get("/api/v1/events", params={"plate": "XYZ9876"}).json()["items"][0]
    img = httpx.get(item["thumbnail_url"])
    assert img.status_code == 200 and img.content == api_env.seed.crops[item["event_id"]]


def test_event_detail_with_reads_and_presigned_image(api_env: ApiEnv) -> None:
    ev = api_env.seed.by_plate("ABD1234")[0]
    d = api_env.get(f"/api/v1/events/{ev['event_id']}", "viewer").json()
    assert (d["plate"], d["camera_id"], d["ts"], d["site"]) == (
        "ABD1234",
        ev["camera_id"],
        ev["ts"],
        ev["site"],
    )
    assert d["reads"][0]["read_id"] == ev["read_ids"][0] and d["reads"][0]["candidates"] == [
        "ABD1230"
    ]
    assert (
        d["images"][0]["kind"] == "plate"
        and d["images"][0]["expires_in"] == api_env.settings.api_presign_ttl_s
    )
    body = httpx.get(d["images"][0]["url"]).content
    assert body == api_env.seed.crops[ev["event_id"]]
    assert "X-Amz-Expires=" in d["images"][0]["url"]
    assert api_env.get("/api/v1/events/no-such-event").status_code == 404


def test_latest_corrected_version_wins(api_env: ApiEnv) -> None:
    ev = dict(api_env.seed.by_plate("LMN0001")[0])
    produce(
        api_env.settings,
        catalogue.PLATE_EVENTS,
        "plate_event",
        [
            {
                **ev,
                "version": 1,
                "plate": "LMN0007",
                "correction_id": "c-test",
                "emitted_at": ev["emitted_at"] + 1,
            }
        ],
    )
    wait_until(
        lambda: (
            plates_of(api_env.get("/api/v1/events", params={"plate": "LMN0007"})) == ["LMN0007"]
        ),
        30,
        "the corrected version",
    )
    assert plates_of(api_env.get("/api/v1/events", params={"plate": "LMN0001"})) == []
    d = api_env.get(f"/api/v1/events/{ev['event_id']}").json()
    assert (d["plate"], d["version"]) == ("LMN0007", 1)


def test_export_csv_and_jsonl_stream_every_row(api_env: ApiEnv) -> None:
    r = api_env.get("/api/v1/events/export", "analyst", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(api_env.seed.events)
    assert {row["event_id"] for row in rows} == {e["event_id"] for e in api_env.seed.events}
    r = api_env.get(
        "/api/v1/events/export", "analyst", params={"format": "jsonl", "plate": "ABC1234"}
    )
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x["plate"] for x in lines] == ["ABC1234"] * 3


def test_timeline_follows_the_plate_across_cameras(api_env: ApiEnv) -> None:
    tl = api_env.get("/api/v1/plates/abc1234/timeline").json()
    expected = sorted(api_env.seed.by_plate("ABC1234"), key=lambda e: e["ts"])
    assert [s["event_id"] for s in tl["stops"]] == [e["event_id"] for e in expected]
    assert tl["cameras"] == ["cam-a", "cam-b", "cam-c"] and tl["sites"] == ["north", "south"]
    assert (
        tl["stops"][0]["dwell_ms"] == expected[1]["ts"] - expected[0]["ts"]
        and tl["stops"][-1]["dwell_ms"] is None
    )


def test_stats_counts(api_env: ApiEnv) -> None:
    st = api_env.get("/api/v1/stats", params={"period": "7d", "top": 3}).json()
    events = api_env.seed.events
    assert st["passages"] == len(events)
    assert st["reads"] == len(api_env.seed.reads)
    assert st["top_plates"][0] == {"plate": "ABC1234", "passages": 3, "cameras": 3}
    per_cam = {c["camera_id"]: c for c in st["per_camera"]}
    assert per_cam["cam-a"]["passages"] == sum(1 for e in events if e["camera_id"] == "cam-a")
    assert per_cam["cam-b"]["leaving"] == sum(
        1 for e in events if e["camera_id"] == "cam-b" and e["direction"] == "leaving"
    )
    assert sum(h["passages"] for h in st["hourly"]) == len(events)
    assert st["alerts"] == {"total": 1, "by_priority": {"high": 1}}
    custom = api_env.get(
        "/api/v1/stats",
        params={
            "period": "custom",
            "since": "2001-01-01T00:00:00Z",
            "until": "2001-01-02T00:00:00Z",
        },
    ).json()
    assert custom["passages"] == 0
    assert api_env.get("/api/v1/stats", params={"period": "custom"}).status_code == 422


def test_audit_records_appear_for_search_export_and_image_view(api_env: ApiEnv) -> None:
    marker = "QRS4321"
    api_env.get(
        "/api/v1/events",
        "analyst",
        params={"plate": marker},
        headers={"X-Request-ID": "audit-req-1"},
    )
    ev = api_env.seed.by_plate(marker)[0]
    api_env.get(f"/api/v1/events/{ev['event_id']}", "viewer")
    api_env.get("/api/v1/events/export", "analyst", params={"plate": marker, "format": "jsonl"})
    api_env.state.publisher.flush(10)

    def found() -> list[dict[str, Any]]:
        return [
            a
            for a in audit_records(api_env)
            if marker in a["query"] or ev["event_id"] in a["query"]
        ]

    recs = wait_until(
        lambda: (
            (r := found())
            and {a["action"] for a in r} >= {"search", "event_view", "image_view", "export"}
            and r
        ),
        20,
        "audit records",
    )
    search = next(a for a in recs if a["action"] == "search")
    assert (search["actor"], search["role"], search["result_count"], search["status"]) == (
        "user:analyst",
        "analyst",
        1,
        200,
    )
    assert search["request_id"] == "audit-req-1" and search["resource"] == "/api/v1/events"
    assert json.loads(search["query"])["plate"] == marker
    export = next(a for a in recs if a["action"] == "export")  # before the data: no count yet
    assert export["result_count"] is None
    done = wait_until(
        lambda: next((a for a in found() if a["action"] == "export_done"), None), 20, "export_done"
    )
    assert done["result_count"] == 1
    view = next(a for a in recs if a["action"] == "image_view")
    assert view["actor"] == "user:viewer" and view["result_count"] == 1
