"""A captured digest Authorization header is good for one request: nonce + nc are single-use."""

from __future__ import annotations

import httpx
import pytest

from services.ingest.devices import NONCE_TTL_S, AuthError, DeviceAuth
from services.ingest.digest_nonces import NonceLedger
from services.ingest.settings import DeviceConfig

DEVICES = {"hik-1": DeviceConfig(camera_id="cam-hik", secret="s3cret-hik-1", username="admin")}
URI = "/push/hikvision"


def answers(challenge: str, n: int, password: str = "s3cret-hik-1") -> list[str]:
    """The Authorization headers httpx's DigestAuth sends for n requests on one challenge
    (it reuses the nonce with nc 1, 2, ... as cameras do)."""
    digest = httpx.DigestAuth("admin", password)
    out = []
    for i in range(n):
        request = httpx.Request("POST", f"http://ingest{URI}")
        flow = digest.auth_flow(request)
        first = next(flow)
        if i == 0:
            first = flow.send(
                httpx.Response(401, headers={"WWW-Authenticate": challenge}, request=request)
            )
        out.append(first.headers["authorization"])
    return out


def test_a_replayed_header_is_refused() -> None:
    now = [1_750_000_000.0]
    auth = DeviceAuth(DEVICES, nonce_key=b"k" * 32, clock=lambda: now[0])
    one, two = answers(auth.digest_challenge(), 2)
    assert "nc=00000001" in one and "nc=00000002" in two
    assert auth.authenticate({"authorization": one}, uri=URI).device_id == "hik-1"
    with pytest.raises(AuthError, match="replay") as replay:
        auth.authenticate({"authorization": one}, uri=URI)
    assert replay.value.status == 401 and not replay.value.stale
    # the next count on the same nonce is a new request: accepted once, then refused too
    assert auth.authenticate({"authorization": two}, uri=URI).device_id == "hik-1"
    for header in (two, one):  # equal and lower counts
        with pytest.raises(AuthError, match="replay"):
            auth.authenticate({"authorization": header}, uri=URI)
    assert auth.nonces.replays == 3


def test_a_wrong_answer_does_not_burn_the_nonce_and_expiry_is_stale() -> None:
    now = [1_750_000_000.0]
    auth = DeviceAuth(DEVICES, nonce_key=b"k" * 32, clock=lambda: now[0])
    challenge = auth.digest_challenge()
    (bad,) = answers(challenge, 1, password="not-the-secret")
    with pytest.raises(AuthError, match="wrong device credential"):
        auth.authenticate({"authorization": bad}, uri=URI)
    (good,) = answers(challenge, 1)  # same nonce, nc=1: the failed try did not use it up
    assert auth.authenticate({"authorization": good}, uri=URI).device_id == "hik-1"
    (later,) = answers(auth.digest_challenge(), 1)
    now[0] += NONCE_TTL_S + 1
    with pytest.raises(AuthError, match="stale") as stale:
        auth.authenticate({"authorization": later}, uri=URI)
    assert stale.value.stale
    assert auth.digest_challenge(stale=True).endswith("stale=true")
    # two challenges in the same second are different nonces
    assert auth.digest_challenge() != auth.digest_challenge()


def test_the_ledger_is_bounded_and_never_reopens_a_dropped_nonce() -> None:
    ledger = NonceLedger(ttl_s=300, max_entries=3)
    for i in range(5):
        assert ledger.use("u", f"n{i}", 1, issued_at=1000 + i, now=1000 + i)
    assert len(ledger) == 3 and ledger.evicted == 2
    # n0 and n1 were dropped: their issue times are below the floor, so they count as stale
    assert ledger.below_floor(1001) and not ledger.below_floor(1002)
    assert not ledger.use("u", "n0", 2, issued_at=1000, now=1010)
    assert not ledger.use("u", "n4", 1, issued_at=1004, now=1010)  # kept: a replay
    assert ledger.use("u", "n4", 2, issued_at=1004, now=1010)
    # expired entries go as time passes
    assert ledger.use("u", "late", 1, issued_at=2000, now=2000) and len(ledger) == 1


def test_the_app_answers_a_replay_with_401_and_a_fresh_challenge(settings) -> None:
    from fastapi.testclient import TestClient

    from services.ingest.app import create_app
    from services.ingest.processor import ingest_context

    from .helpers import ingest_settings
    from .payloads import HIK_XML, sample

    s = ingest_settings(settings)
    with ingest_context(s) as ctx, TestClient(create_app(ctx)) as client:
        first = client.post(URI, content=sample(HIK_XML), headers={"content-type": "text/xml"})
        assert first.status_code == 401
        challenge = next(
            v for v in first.headers.get_list("www-authenticate") if v.startswith("Digest")
        )
        (header,) = answers(challenge, 1, password="hik-secret-1")
        headers = {"content-type": "text/xml", "authorization": header}
        ok = client.post(URI, content=sample(HIK_XML), headers=headers)
        assert ok.status_code == 200, ok.text
        again = client.post(URI, content=sample(HIK_XML), headers=headers)
        assert again.status_code == 401 and "replay" in again.json()["error"]
        fresh = [v for v in again.headers.get_list("www-authenticate") if v.startswith("Digest")]
        assert fresh and challenge.split("nonce=")[1] not in fresh[0]


test_the_app_answers_a_replay_with_401_and_a_fresh_challenge = pytest.mark.integration(
    test_the_app_answers_a_replay_with_401_and_a_fresh_challenge
)
