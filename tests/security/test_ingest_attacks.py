"""Hostile pushes against a running ingest server: refused 4xx, dead-lettered, others still answered."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from platestream import topics as catalogue
from platestream.settings import CommonSettings
from services.ingest.loginthrottle import LoginThrottle
from services.ingest.multipart import Part, encode_multipart
from services.ingest.processor import IngestServer
from tests.ingest.helpers import ingest_settings, read_topic
from tests.ingest.payloads import generic_json

pytestmark = pytest.mark.integration

VICTIM = {"x-api-key": "edge-secret-1"}  # device edge-1, camera cam-edge
ATTACKER = {"x-api-key": "pr-secret-1"}  # device pr-1, camera cam-pr


@dataclass
class Victim:
    """Another camera pushing every 20 ms while an attack runs; its latencies and acks."""

    base: str
    pushes: list[tuple[float, float]] = field(default_factory=list)  # (start, latency) each
    acked: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    n: int = 0
    window: tuple[float, float] = (0.0, 0.0)  # when the attack ran (perf_counter)

    def worst(self, *, during: bool) -> float:
        """Slowest push in flight during the attack or started up to 0.1 s after it (or, not
        ``during``, of those that ended before it began: the baseline)."""
        lo, hi = self.window
        if during:
            chosen = [lat for t, lat in self.pushes if t + lat >= lo and t <= hi + 0.1]
        else:
            chosen = [lat for t, lat in self.pushes if t + lat < lo]
        return max(chosen, default=0.0)

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                self.n += 1
                eid = f"victim-{self.n}"
                body = json.dumps({**generic_json(f"VIC{self.n}", eid), "images": []})
                started = time.perf_counter()
                r = client.post(
                    "/push/generic",
                    content=body,
                    headers={**VICTIM, "content-type": "application/json"},
                )
                self.pushes.append((started, time.perf_counter() - started))
                if r.status_code == 200:
                    self.acked.update(r.json()["event_ids"])
                else:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")
                self.stop.wait(0.02)


@pytest.fixture
def ingest(settings: CommonSettings) -> Iterator[str]:
    """An ingest server (uvicorn, the stage's own runner) on a free port; its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = ingest_settings(settings, ingest_port=port)
    stop = threading.Event()
    thread = threading.Thread(target=IngestServer(settings=s, stop=stop).run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "ingest server did not answer /health"
        time.sleep(0.1)
    yield base
    stop.set()
    thread.join(timeout=30)


def under_attack(
    base: str, attack: Callable[[httpx.Client], httpx.Response]
) -> tuple[Victim, httpx.Response, float]:
    victim = Victim(base)
    thread = threading.Thread(target=victim.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(victim.pushes) < 10:  # warm: a fresh server's first pushes set up its clients
        assert time.monotonic() < deadline and not victim.failures, victim.failures
        time.sleep(0.05)
    with httpx.Client(base_url=base, timeout=60) as client:
        started = time.perf_counter()
        response = attack(client)
        took = time.perf_counter() - started
    victim.window = (started, started + took)
    time.sleep(0.5)
    victim.stop.set()
    thread.join(timeout=60)
    return victim, response, took


def lost_and_dead(settings: CommonSettings, victim: Victim, expect_dead: int) -> tuple[int, list]:
    topic = settings.topic(catalogue.CAMERA_EVENTS.name)
    stored = {r["event_id"] for _k, r in read_topic(settings, topic, expect=len(victim.acked))}
    dlq = settings.topic(catalogue.dead_letter_topic("ingest").name)
    dead = [r for k, r in read_topic(settings, dlq, expect=expect_dead, timeout=10) if k == b"pr-1"]
    return len(victim.acked - stored), dead


def generic_push(client: httpx.Client, body: bytes, ctype: str, query: str = "") -> httpx.Response:
    return client.post(
        f"/push/generic{query}", content=body, headers={**ATTACKER, "content-type": ctype}
    )


def many_parts() -> bytes:
    return encode_multipart(
        [Part(headers={"Content-Disposition": 'form-data; name="x"'})] * 40_000, "b"
    )


# name: (body builder, content type, query, the reason the push is refused with)
ATTACKS: dict[str, tuple[Callable[[], bytes], str, str, str]] = {
    "push: plate of 100,000 characters": (
        lambda: json.dumps(generic_json("X" * 100_000)).encode(),
        "application/json",
        "",
        "plate text of 100000 characters exceeds the limit of 64",
    ),
    "push: 40,000 empty multipart parts (2 MB)": (
        many_parts,
        "multipart/form-data; boundary=b",
        "",
        "multipart body has more than 64 parts",
    ),
    "push: camera_id '..'": (
        lambda: json.dumps(generic_json()).encode(),
        "application/json",
        "?camera_id=..",
        "camera id '..' is not a valid camera id",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_hostile_push_is_refused_and_other_cameras_are_still_answered(
    name: str, ingest: str, settings: CommonSettings, record_attack: Callable[..., None]
) -> None:
    build, ctype, query, reason = ATTACKS[name]
    body = build()  # before the clock starts: client and server share this process
    victim, response, took = under_attack(ingest, lambda c: generic_push(c, body, ctype, query))
    assert response.status_code == 400 and response.json()["error"] == reason
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not victim.failures and victim.acked
    lost, dead = lost_and_dead(settings, victim, 1)
    stalled, before = victim.worst(during=True), victim.worst(during=False)
    outcome = f"400 in {took:.3f}s (before: {before:.3f}s)"
    record_attack(name, "ingest", stalled, lost, len(dead), outcome)
    assert stalled < 2.0 and took < 2.0
    assert lost == 0 and [d["error"] for d in dead] == [reason]


def test_password_guessing_is_throttled_and_other_devices_are_still_answered(
    ingest: str, settings: CommonSettings, record_attack: Callable[..., None]
) -> None:
    body = json.dumps(generic_json()).encode()
    statuses: list[int] = []

    def guess(client: httpx.Client) -> httpx.Response:
        r = client.post("/push/hikvision", content=body, auth=("admin", "guess-0"))
        for i in range(1, 60):  # the camera's user name is known; its password is guessed
            r = client.post("/push/hikvision", content=body, auth=("admin", f"guess-{i}"))
            statuses.append(r.status_code)
        return r

    victim, response, took = under_attack(ingest, guess)
    assert statuses.count(401) == LoginThrottle().max_failures - 1  # then refused unchecked
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    assert not victim.failures and victim.acked
    with httpx.Client(base_url=ingest) as client:  # the right password is refused too, for now
        r = client.post("/push/hikvision", content=body, auth=("admin", "hik-secret-1"))
        assert r.status_code == 429
    lost, _dead = lost_and_dead(settings, victim, 0)
    record_attack(
        "push: 60 guesses of a camera's password",
        "ingest",
        victim.worst(during=True),
        lost,
        0,
        f"429 after {LoginThrottle().max_failures} in {took:.3f}s",
    )
    assert victim.worst(during=True) < 2.0 and lost == 0
