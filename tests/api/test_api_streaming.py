"""The live feeds of the API (/api/v1/live) on the live stack: the WebSocket streams new events
filtered by camera and refuses bad credentials and devices; SSE streams alerts.

Runs after test_api_management.py (name order): the alert it produces would otherwise be in
that module's alert list.
"""

from __future__ import annotations

import json
import time

import pytest

from platestream import topics as catalogue

from .helpers import ApiEnv, produce

pytestmark = pytest.mark.integration


def test_live_websocket_streams_new_events_filtered_by_camera(api_env: ApiEnv) -> None:
    from websockets.sync.client import connect

    assert api_env.state.live.assigned.wait(20)
    ws_url = api_env.url.replace("http", "ws") + "/api/v1/live"
    ev = dict(api_env.seed.events[0])
    with (
        connect(
            f"{ws_url}?access_token={api_env.tokens['viewer']}&purpose=incident&camera=cam-live",
            open_timeout=10,
        ) as ws,
        connect(
            f"{ws_url}?access_token={api_env.tokens['viewer']}&purpose=incident&camera=cam-other",
            open_timeout=10,
        ) as other,
    ):
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        assert json.loads(other.recv(timeout=10))["type"] == "hello"
        live_ev = {
            **ev,
            "event_id": "live-1",
            "camera_id": "cam-live",
            "plate": "LIV3001",
            "variants": ["LIV3001"],  # not the seed's: its plate is another test's subject
            "ts": int(time.time() * 1000),
        }
        produce(api_env.settings, catalogue.PLATE_EVENTS, "plate_event", [live_ev])
        msg = json.loads(ws.recv(timeout=20))
        assert (
            msg["type"] == "event"
            and msg["data"]["event_id"] == "live-1"
            and msg["data"]["plate"] == "LIV3001"
        )
        assert "best_crop" not in msg["data"]
        with pytest.raises(TimeoutError):
            other.recv(timeout=1.5)
    from websockets.exceptions import ConnectionClosed

    with (
        connect(f"{ws_url}?api_key=nope", open_timeout=10) as bad,
        pytest.raises(ConnectionClosed) as closed,
    ):
        bad.recv(timeout=5)
    assert closed.value.rcvd.code == 4401
    with (
        connect(f"{ws_url}?access_token={api_env.tokens['device']}", open_timeout=10) as dev,
        pytest.raises(ConnectionClosed) as closed,
    ):
        dev.recv(timeout=5)
    assert closed.value.rcvd.code == 4403


def test_live_sse_streams_alerts(api_env: ApiEnv) -> None:
    assert api_env.state.live.assigned.wait(20)
    alert = {**api_env.seed.alerts[0], "alert_id": "live-alert-1", "ts": int(time.time() * 1000)}
    lines: list[str] = []
    with api_env.http.stream(
        "GET",
        "/api/v1/live/sse",
        params={"kinds": "alert", "max_messages": 1},
        headers=api_env.headers("viewer"),
    ) as s:
        it = s.iter_lines()
        lines.append(next(it))  # the hello arrives once the subscription exists
        produce(api_env.settings, catalogue.ALERTS, "bolo_alert", [alert])
        lines += list(it)
    data = [json.loads(ln[5:]) for ln in lines if ln.startswith("data:")]
    assert data[-1]["type"] == "alert" and data[-1]["data"]["alert_id"] == "live-alert-1"
