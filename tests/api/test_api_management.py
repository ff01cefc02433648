"""Managing through the API on the live stack: cameras (credentials stay in the secret store),
watchlist entries and CSV import, the review queue and corrections, the training export in the
benchmark format, listing and acknowledging alerts.

Runs after test_api_events.py and before test_api_streaming.py (name order): its corrections
change seeded plates, and the alert list must hold only the seeded alert.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from platestream import topics as catalogue

from .helpers import ApiEnv, read_topic, wait_until

pytestmark = pytest.mark.integration


def test_cameras_crud_keeps_credentials_secret(api_env: ApiEnv) -> None:
    body = {
        "name": "North gate",
        "site": "north",
        "zone": "gate",
        "lat": 1.5,
        "lon": 2.5,
        "heading": 90,
        "stream_url": "rtsp://admin:hunter2@10.1.2.3:554/stream1",
        "plate_formats": ["BR_MERCOSUR"],
        "zones": {"roi": [[[0, 0], [1, 0], [1, 0.5]]], "exclusions": []},
        "detector": {"min_conf": "0.4"},
        "direction_map": {"forward": "approaching"},
    }
    r = api_env.http.put("/api/v1/cameras/cam-x1", json=body, headers=api_env.headers("admin"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["stream_url"] == "rtsp://10.1.2.3:554/stream1" and out["has_credentials"] is True
    assert "hunter2" not in r.text and "credentials" not in out
    got = api_env.get("/api/v1/cameras/cam-x1", "viewer")
    assert got.json()["zones"]["roi"][0][2] == [1.0, 0.5] and "hunter2" not in got.text
    record = [v for k, v in read_topic(api_env, catalogue.CAMERAS) if k == b"cam-x1"][-1]
    assert record["credentials_secret"] == "camera-cam-x1-stream" and "hunter2" not in json.dumps(
        record
    )
    assert json.loads(api_env.state.secrets.get(record["credentials_secret"])) == {
        "username": "admin",
        "password": "hunter2",
    }
    r = api_env.http.patch(
        "/api/v1/cameras/cam-x1",
        json={"enabled": False, "credentials": {"username": "u", "password": "p2"}},
        headers=api_env.headers("admin"),
    )
    assert r.json()["enabled"] is False and r.json()["name"] == "North gate"
    assert json.loads(api_env.state.secrets.get("camera-cam-x1-stream"))["password"] == "p2"
    assert (
        api_env.http.delete("/api/v1/cameras/cam-x1", headers=api_env.headers("admin")).status_code
        == 204
    )
    assert api_env.get("/api/v1/cameras/cam-x1").status_code == 404
    assert api_env.state.secrets.get("camera-cam-x1-stream") is None
    assert [v for k, v in read_topic(api_env, catalogue.CAMERAS) if k == b"cam-x1"][-1] is None


def test_watchlist_entries_and_csv_import(api_env: ApiEnv) -> None:
    r = api_env.post(
        "/api/v1/watchlists/entries",
        "operator",
        json={
            "list_id": "stolen",
            "pattern": "xyz-9876",
            "priority": "high",
            "reason": "stolen car",
        },
    )
    assert (
        r.status_code == 201
        and r.json()["pattern"] == "XYZ9876"
        and r.json()["owner"] == "operator"
    )
    entry_id = r.json()["entry_id"]
    text = "pattern,match_type,priority,reason,camera_ids\nAB?12*,wildcard,low,test,cam-a;cam-b\nBAD(,regex,low,,\nKJH5555,,critical,,\n"
    r = api_env.http.post(
        "/api/v1/watchlists/vip/import",
        content=text,
        headers={**api_env.headers("operator"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2 and r.json()["errors"][0]["line"] == 3
    entries = api_env.get("/api/v1/watchlists/entries", "analyst", params={"list_id": "vip"}).json()
    assert sorted((e["pattern"], e["match_type"], e["camera_ids"]) for e in entries) == [
        ("AB?12*", "wildcard", ["cam-a", "cam-b"]),
        ("KJH5555", "exact", []),
    ]
    lists = {w["list_id"]: w["entries"] for w in api_env.get("/api/v1/watchlists").json()}
    assert lists["vip"] == 2 and lists["stolen"] >= 1
    on_topic = {k.decode(): v for k, v in read_topic(api_env, catalogue.BOLO)}
    assert on_topic[entry_id]["pattern"] == "XYZ9876"
    assert (
        api_env.http.delete(
            f"/api/v1/watchlists/entries/{entry_id}", headers=api_env.headers("operator")
        ).status_code
        == 204
    )
    assert entry_id not in {e["entry_id"] for e in api_env.get("/api/v1/watchlists/entries").json()}
    assert {k.decode(): v for k, v in read_topic(api_env, catalogue.BOLO)}[entry_id] is None
    r = api_env.http.post(
        "/api/v1/watchlists/vip/import",
        content="plate\nX\n",
        headers={**api_env.headers("operator"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 422


def test_review_queue_and_corrections(api_env: ApiEnv) -> None:
    threshold = api_env.settings.api_review_threshold
    corrected = set(api_env.state.corrected)
    low = sorted(
        e["plate"]
        for e in api_env.seed.events
        if e["confidence"] < threshold and e["event_id"] not in corrected
    )
    queue = api_env.get("/api/v1/review", "operator").json()
    assert sorted(e["plate"] for e in queue["items"]) == low
    target = api_env.seed.by_plate("KJH5555")[0]
    r = api_env.post(
        f"/api/v1/events/{target['event_id']}/corrections",
        "operator",
        json={"action": "correct", "plate": "kjh 5556", "reason": "OCR"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["plate"], r.json()["previous_plate"], r.json()["user"]) == (
        "KJH5556",
        "KJH5555",
        "operator",
    )
    queue = api_env.get("/api/v1/review", "operator").json()
    assert "KJH5555" not in [e["plate"] for e in queue["items"]]
    rec = [
        v for k, v in read_topic(api_env, catalogue.CORRECTIONS) if k == target["event_id"].encode()
    ][-1]
    assert (
        rec["action"] == "correct" and rec["plate"] == "KJH5556" and rec["event_offset"] is not None
    )
    assert (
        api_env.post(
            f"/api/v1/events/{target['event_id']}/corrections", "viewer", json={"action": "confirm"}
        ).status_code
        == 403
    )
    assert (
        api_env.post(
            "/api/v1/events/nope/corrections", "operator", json={"action": "confirm"}
        ).status_code
        == 404
    )
    assert (
        api_env.post(
            f"/api/v1/events/{target['event_id']}/corrections",
            "operator",
            json={"action": "correct"},
        ).status_code
        == 422
    )


def test_training_export_zip_in_benchmark_format(api_env: ApiEnv) -> None:
    target = api_env.seed.by_plate("AB51234")[0]
    assert (
        api_env.post(
            f"/api/v1/events/{target['event_id']}/corrections",
            "operator",
            json={"action": "correct", "plate": "AB51235"},
        ).status_code
        == 201
    )

    def export() -> zipfile.ZipFile | None:
        r = api_env.get("/api/v1/training/export", "operator")
        z = zipfile.ZipFile(io.BytesIO(r.content))
        return z if f"images/{target['event_id']}.jpg" in z.namelist() else None

    z = wait_until(export, 30, "the correction to reach ClickHouse (sink)", interval=0.5)
    line = z.read(f"images/{target['event_id']}.txt").decode().strip().split("\t")
    img = z.read(f"images/{target['event_id']}.jpg")
    assert img == api_env.seed.crops[target["event_id"]]
    from services.api.routes.training import image_size

    w, h = image_size(img)
    assert line == [f"{target['event_id']}.jpg", "0", "0", str(w), str(h), "AB51235"]
    assert "\t".join(line) in z.read("labels.txt").decode()


def test_alerts_list_and_acknowledge(api_env: ApiEnv) -> None:
    # the seed's alert: tests that run enrich over the session's topics (with the watchlist of
    # this file) may have added alerts of their own by the time this one runs
    seeded = {a["alert_id"] for a in api_env.seed.alerts}

    def listed(role: str = "admin", **params: object) -> list[dict]:
        answer = api_env.get("/api/v1/alerts", role, params=params or None).json()
        return [a for a in answer if a["alert_id"] in seeded]

    alerts = listed("viewer")
    assert [a["plate"] for a in alerts] == ["XYZ9876"] and alerts[0]["ack"] is None
    alert_id = alerts[0]["alert_id"]
    assert api_env.post(f"/api/v1/alerts/{alert_id}/ack", "viewer", json={}).status_code == 403
    r = api_env.post(f"/api/v1/alerts/{alert_id}/ack", "operator", json={"note": "patrol sent"})
    assert r.status_code == 201
    alerts = listed("analyst")
    assert alerts[0]["ack"]["user"] == "operator" and alerts[0]["ack"]["note"] == "patrol sent"
    assert listed(unacked_only=True) == []
    assert (
        next(v for k, v in read_topic(api_env, catalogue.ALERT_ACKS) if k == alert_id.encode())[
            "note"
        ]
        == "patrol sent"
    )
    assert api_env.post("/api/v1/alerts/unknown-alert/ack", "operator", json={}).status_code == 404
