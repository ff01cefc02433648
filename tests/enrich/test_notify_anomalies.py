"""notify delivers anomalies (clone, misread, overstay) to the routes whose kinds name them.

Unit: routing by kind, the payload, record checks. Integration: the notifier process on the local
stack, a webhook route made on anpr.alert-routes.v1 with kinds [clone] and a bootstrap route with
the default kinds (watchlist): the clone reaches only the first, a watchlist alert only the second.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller

from platestream import topics as catalogue
from platestream.timeutil import now_ms
from services.enrich.notify import Notifier, sign, standard_signature, targets_for
from services.enrich.notify_anomalies import (
    BadAnomaly,
    anomaly_targets,
    check_anomaly,
    email_lines,
    message,
)
from services.enrich.routes import route_from_record
from services.enrich.settings import NotifySettings, Route
from services.sink.samples import anomaly as sample_anomaly

from .helpers import SERDE, Pipe, TopicReader, stage_process
from .test_notify import alert


def clone(anomaly_id: str = "AN-1") -> dict[str, Any]:
    rec = sample_anomaly(0, base_ts=now_ms())
    return {**rec, "anomaly_id": anomaly_id, "kind": "clone"}


# --- unit ---------------------------------------------------------------------------------------


def test_anomalies_go_to_routes_of_their_kind_and_alerts_to_watchlist_routes() -> None:
    routes = [
        Route(channel="webhook", target="http://clones", kinds=["clone"]),
        Route(channel="webhook", target="http://alerts"),  # default: watchlist only
        Route(channel="mqtt", target="t/all", kinds=["watchlist", "clone", "misread", "overstay"]),
        Route(channel="email", target="x@y", kinds=["overstay"], lists=["stolen"]),
    ]
    got = [r.target for r in anomaly_targets(clone(), routes)]
    assert got == ["http://clones", "t/all"]
    overstay = {**clone(), "kind": "overstay"}
    assert [r.target for r in anomaly_targets(overstay, routes)] == ["t/all", "x@y"]
    # a route without "watchlist" takes no watchlist alert, whatever its lists
    assert [r.target for r in targets_for(alert("a1"), routes)] == ["http://alerts", "t/all"]


def test_the_payload_keeps_the_anomaly_shape_with_a_type() -> None:
    rec = clone()
    msg = message(rec)
    assert msg["type"] == "anomaly.clone"
    assert {k: v for k, v in msg.items() if k != "type"} == rec
    assert "alert_id" not in msg and "list_id" not in msg
    lines = email_lines(msg)
    assert "type: anomaly.clone" in lines and any(x.startswith("first: ") for x in lines)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"anomaly_id": ""}, "anomaly_id"),
        ({"anomaly_id": "x" * 200}, "anomaly_id"),
        ({"kind": "convoy"}, "unknown kind"),
        ({"plate": "P" * 100}, "plate"),
    ],
)
def test_records_notify_cannot_deliver_are_refused(change: dict[str, Any], why: str) -> None:
    with pytest.raises(BadAnomaly, match=why):
        check_anomaly({**clone(), **change})
    with pytest.raises(BadAnomaly, match="anomaly_id"):
        check_anomaly(alert("a1"))  # a watchlist alert produced to the wrong topic


def test_route_records_carry_kinds_old_ones_take_watchlist_and_unknown_kinds_are_dropped() -> None:
    base = {"route_id": "r1", "channel": "webhook", "target": "http://h/x", "lists": []}
    assert route_from_record(base, None).kinds == ["watchlist"]
    assert route_from_record({**base, "kinds": ["clone", "misread"]}, None).kinds == [
        "clone",
        "misread",
    ]
    assert route_from_record({**base, "kinds": ["clone", "convoy"]}, None).kinds == ["clone"]
    # a record as the API writes it round-trips through the schema with its kinds
    record = {**base, "name": "", "updated_at": now_ms(), "kinds": ["overstay"]}
    assert SERDE.decode(SERDE.encode("alert_route", record))["kinds"] == ["overstay"]
    del record["kinds"]
    assert SERDE.decode(SERDE.encode("alert_route", record))["kinds"] == ["watchlist"]


# --- integration --------------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).posts.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.integration
def test_a_clone_reaches_the_clone_route_and_not_the_watchlist_route(settings, tmp_path) -> None:
    _Hook.posts = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{hook.server_address[1]}"
    pipe = Pipe(settings)
    # a route made through the API (on the topic) that takes clones only
    pipe.send(
        catalogue.ALERT_ROUTES.name,
        "alert_route",
        "clones",
        {
            "route_id": "clones",
            "channel": "webhook",
            "target": f"{base}/clones",
            "updated_at": now_ms(),
            "kinds": ["clone"],
        },
    )
    rec = clone("AN-clone-1")
    raw = SERDE.encode("plate_anomaly", rec)
    topic = catalogue.ANOMALIES.name
    pipe.send(topic, None, rec["camera_id"], raw)
    pipe.send(topic, None, rec["camera_id"], raw)  # the detector re-emitted it: delivered once
    pipe.send(topic, None, rec["camera_id"], b"\x00garbage")  # dead-lettered, not delivered
    pipe.send(catalogue.ALERTS.name, "bolo_alert", "cam-n", alert("AL-1"))
    pipe.flush()
    env = {
        **os.environ,
        "PLATESTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PLATESTREAM_TOPIC_PREFIX": settings.topic_prefix,
        # a bootstrap route with the default kinds: watchlist alerts only
        "PLATESTREAM_NOTIFY_ROUTES": json.dumps(
            [{"channel": "webhook", "target": f"{base}/alerts"}]
        ),
        "PLATESTREAM_NOTIFY_ALLOW_PRIVATE_TARGETS": "true",
        "PLATESTREAM_NOTIFY_WEB_PORT": "0",
        "PLATESTREAM_NOTIFY_METRICS_PORT": "0",
        "PLATESTREAM_NOTIFY_WEBHOOK_SECRET": "hook-secret",
        "PLATESTREAM_VAR_DIR": str(tmp_path / "var"),
        "PLATESTREAM_LOG_LEVEL": "WARNING",
    }
    deliveries = TopicReader(settings, catalogue.ALERT_DELIVERIES.name)
    dlq = TopicReader(settings, catalogue.dead_letter_topic("notify").name)
    try:
        with stage_process("notify", env, tmp_path / "notify.log"):
            deliveries.wait_for(lambda r: len(r) >= 2, timeout=90)
            dlq.wait_for(lambda r: len(r) >= 1, timeout=20)
            deliveries.settle(2.0)
    finally:
        deliveries.close()
        dlq.close()
        hook.shutdown()
    by_path = {p[0]: p for p in _Hook.posts}
    assert sorted(p[0] for p in _Hook.posts) == ["/alerts", "/clones"], _Hook.posts
    _path, headers, body = by_path["/clones"]
    got = json.loads(body)
    assert got["type"] == "anomaly.clone" and got["anomaly_id"] == "AN-clone-1"
    assert got["first"]["event_id"] == rec["first"]["event_id"] and "alert_id" not in got
    ts = headers["webhook-timestamp"]
    assert headers["webhook-id"] == headers["X-Platestream-Alert-Id"] == "AN-clone-1"
    assert headers["webhook-signature"] == standard_signature("hook-secret", "AN-clone-1", ts, body)
    assert headers["X-Platestream-Signature"] == sign("hook-secret", ts, body)
    assert json.loads(by_path["/alerts"][2])["alert_id"] == "AL-1"
    outcomes = {(d["alert_id"], d["target"]): d["status"] for d in deliveries.records}
    assert outcomes == {
        ("AN-clone-1", f"{base}/clones"): "delivered",
        ("AL-1", f"{base}/alerts"): "delivered",
    }
    (dead,) = dlq.records
    assert dead["value"] == b"\x00garbage" and dead["source_topic"].endswith(topic)


def test_an_anomaly_by_email_names_its_kind_and_both_sightings() -> None:
    mails: list[Any] = []

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mails.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        settings = NotifySettings(notify_smtp_port=port, notify_max_attempts=1)
        rec = message(clone("AN-mail"))
        route = Route(channel="email", target="ops@example.org", kinds=["clone"])
        outcome = asyncio.run(Notifier(settings).deliver(rec, route))
    finally:
        smtp.stop()
    assert outcome.status == "delivered", outcome
    (mail,) = mails
    text = mail.content.decode()
    assert f"Subject: [platestream] clone of plate {rec['plate']}" in text
    assert "X-Platestream-Alert-Id: AN-mail" in text
    assert f"first: {rec['plate']} at {rec['first']['camera_id']}" in text
    assert "watchlist hit" not in text
