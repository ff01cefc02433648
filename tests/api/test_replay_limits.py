"""Replay and the training ZIP are bounded: a page at a time, streamed, and capped per user and
per process (429 with Retry-After past the cap)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import pytest

from platestream.settings import CommonSettings
from services.api.slots import Busy, Slots

from .helpers import ApiEnv, api_environment, wait_until

pytestmark = pytest.mark.integration

PAGE = 3


@pytest.fixture(scope="module")
def env(stack: CommonSettings) -> Iterator[ApiEnv]:
    with api_environment(
        stack,
        api_replay_page_rows=PAGE,
        api_replay_max_per_user=1,
        api_replay_max_running=1,
        api_training_max_per_user=1,
        api_training_max_running=2,
    ) as e:
        yield e


def _range(env: ApiEnv) -> dict[str, str]:
    base = env.seed.base_ts / 1000
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "since": time.strftime(fmt, time.gmtime(base - 1)),
        "until": time.strftime(fmt, time.gmtime(base + 3600)),
    }


def _job(env: ApiEnv, job_id: str) -> dict:
    return env.get(f"/api/v1/replay/{job_id}", "analyst").json()


def test_replay_works_a_page_at_a_time_and_is_capped(env: ApiEnv) -> None:
    # at the original pace, 10x: the seed's events are 10 s apart, so one per second
    r = env.post("/api/v1/replay", "analyst", json={**_range(env), "pace": "original", "speed": 10})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    total = len(env.seed.events)
    job = wait_until(lambda: (j := _job(env, job_id))["published"] >= 1 and j, 30, "a publish")
    # publishing began with only the first page read, not the whole range
    assert job["total"] == total and job["read"] <= PAGE < total, job

    again = env.post("/api/v1/replay", "analyst", json=_range(env))
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    assert "analyst already runs 1 replays" in again.json()["detail"]
    other = env.post("/api/v1/replay", "admin", json=_range(env))  # the process's one slot
    assert other.status_code == 429 and "this API process" in other.json()["detail"]

    job = wait_until(lambda: (j := _job(env, job_id))["published"] > PAGE and j, 30, "page 2")
    assert job["read"] < total, job  # still reading page by page
    assert env.state.replays.peak_page_records <= PAGE
    assert (
        env.http.delete(f"/api/v1/replay/{job_id}", headers=env.headers("analyst")).status_code
        == 204
    )
    wait_until(lambda: _job(env, job_id)["state"] == "cancelled", 15, "the cancel")
    # the slot came back: a fast replay of everything runs, page by page, to the end
    r = env.post("/api/v1/replay", "admin", json=_range(env))
    assert r.status_code == 202, r.text
    done = wait_until(
        lambda: (j := _job(env, r.json()["id"]))["state"] in ("done", "failed") and j, 60, "done"
    )
    assert done["state"] == "done" and done["published"] == total and done["missing"] == 0, done
    assert env.state.replays.slots.held() == 0


def test_training_export_is_streamed_and_capped(env: ApiEnv) -> None:
    target = env.seed.by_plate("AB51234")[0]
    r = env.post(
        f"/api/v1/events/{target['event_id']}/corrections",
        "operator",
        json={"action": "correct", "plate": "AB51235"},
    )
    assert r.status_code == 201, r.text

    def export() -> zipfile.ZipFile | None:
        resp = env.get("/api/v1/training/export", "operator")
        assert resp.status_code == 200, resp.text
        z = zipfile.ZipFile(io.BytesIO(resp.content))
        return z if f"images/{target['event_id']}.jpg" in z.namelist() else None

    z = wait_until(export, 30, "the correction to reach ClickHouse (sink)", interval=0.5)
    assert z.testzip() is None
    assert z.read(f"images/{target['event_id']}.jpg") == env.seed.crops[target["event_id"]]
    assert z.read("missing.txt") == b"0\n" and "TRUNCATED.txt" not in z.namelist()
    assert env.state.training_slots.held() == 0  # given back once sent

    # one download per user at a time: hold the operator's slot as a running download would
    slot = env.state.training_slots.acquire("user:operator")
    try:
        busy = env.get("/api/v1/training/export", "operator")
        assert busy.status_code == 429 and int(busy.headers["Retry-After"]) > 0
        assert env.get("/api/v1/training/export", "admin").status_code == 200
    finally:
        slot.release()
    assert env.get("/api/v1/training/export", "operator").status_code == 200


def test_slots_per_user_and_per_process() -> None:
    slots = Slots("replays", per_user=2, per_process=3, retry_after_s=7)
    a1, a2 = slots.acquire("a"), slots.acquire("a")
    with pytest.raises(Busy) as exc:
        slots.acquire("a")
    assert exc.value.status_code == 429 and exc.value.headers == {"Retry-After": "7"}
    b1 = slots.acquire("b")
    with pytest.raises(Busy, match="this API process"):
        slots.acquire("c")
    a1.release()
    a1.release()  # idempotent
    assert slots.held("a") == 1 and slots.held() == 2
    slots.acquire("c")
    for s in (a2, b1):
        s.release()
    assert slots.refused == 2
