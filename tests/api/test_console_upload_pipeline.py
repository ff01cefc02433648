"""An uploaded video through the whole pipeline, seen in the console: a video of the sim scene is
uploaded through the upload page in headless Chromium to a running ingest; detect and enrich run
as their own processes and the sink of the API test environment projects their records; the page's
job list fills with the events of that job's frames, and their plates are plates of the video."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from platestream.bench.harness import stage_env
from platestream.ids import stable_id

from .helpers import CHOOSE_PURPOSE_JS, ApiEnv
from .screens import save_screenshot
from .test_console_pages import browser, goto, text  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed"
    ),
]

SEED = 11
FPS = 5.0
SECONDS = 6.0


def sim_video(path: Path) -> tuple[Path, set[str]]:
    """SECONDS of sim scene SEED as MJPEG AVI at 1280x720, from a moment with a passage; and the
    plates fully visible in it."""
    import cv2

    from services.ingest import sim

    t0 = next(t for t in range(0, 600, 2) if sim.passages(SEED, t, t + SECONDS))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (sim.WIDTH, sim.HEIGHT))
    plates: set[str] = set()
    for i in range(int(SECONDS * FPS)):
        img, truth = sim.render_frame(SEED, t0 + i / FPS)
        plates |= {g["plate"] for g in truth if g["plate_fully_visible"]}
        out.write(img)
    out.release()
    return path, plates


def stage(env: ApiEnv, name: str, ready: str, log: Path) -> subprocess.Popen[bytes]:
    proc_env = stage_env(env.settings, PLATESTREAM_DETECT_WORKERS="1")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", name],
            env=proc_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while ready not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    return proc


def test_uploaded_video_through_detect_and_enrich_lists_its_events(
    api_env: ApiEnv,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from .ingest_env import running_ingest

    cam = "cam-upload-e2e"
    video, plates = sim_video(tmp_path / "sim.avi")
    assert plates, "the sim window shows no plate"
    procs = [
        stage(api_env, "detect", "detect: consuming", tmp_path / "detect.log"),
        stage(api_env, "enrich", "assigned", tmp_path / "enrich.log"),
    ]
    try:
        with running_ingest(api_env, uploads=True, ingest_upload_dir=tmp_path / "spool"):
            goto(browser, "upload", "!!document.querySelector('#upload-form')")
            browser.wait_for(CHOOSE_PURPOSE_JS)  # the job's events show plates
            doc = browser.call("DOM.getDocument")
            node = browser.call(
                "DOM.querySelector",
                nodeId=doc["root"]["nodeId"],
                selector="#upload-form [name=file]",
            )
            browser.call("DOM.setFileInputFiles", files=[str(video)], nodeId=node["nodeId"])
            t0 = time.monotonic()
            browser.eval(
                f"document.querySelector('#upload-form').camera_id.value = {cam!r};"
                "document.querySelector('#upload-submit').click(); true"
            )
            state = browser.wait_for(
                "(() => { const s = document.querySelector('.job-state'); return s && ['done', 'failed'].includes(s.textContent) && s.textContent; })()",
                90,
            )
            assert state == "done", text(browser, "#upload-job")
            job_id = text(browser, ".job-job")
            sent = int(text(browser, ".job-frames-sent"))
            listed = (
                "Array.from(document.querySelectorAll('#upload-events tbody tr .plate'))"
                ".map((e) => e.textContent)"
            )
            browser.wait_for(f"{listed}.length > 0", 120)
            print(f"upload started -> first event of the job listed: {time.monotonic() - t0:.1f} s")
            # partial reads of a plate entering the frame can close as events of their own
            # first; the passage with the whole plate follows when enrich closes it
            full = json.dumps(sorted(plates))
            browser.wait_for(f"{listed}.some((p) => {full}.includes(p))", 90)
            print(
                f"upload started -> a whole plate of the video listed: {time.monotonic() - t0:.1f} s"
            )
            shown = browser.eval(listed)
            save_screenshot(browser, "upload-pipeline")
            items = api_env.get(f"/api/v1/uploads/{job_id}/events").json()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    print(f"job {job_id}: {sent} frames, plates in the video {sorted(plates)}, listed {shown}")
    assert set(shown) & plates, (shown, plates)
    # every listed event holds a read of a frame of this job
    frames = {stable_id(cam, "upload", job_id, seq) for seq in range(sent)}
    ch = api_env.state.clickhouse
    assert set(shown) <= {i["plate"] for i in items}  # the page polls; a late event may follow
    for item in items:
        ids = ch.query(
            "SELECT read_ids FROM plate_events WHERE event_id = {e:String} LIMIT 1",
            parameters={"e": item["event_id"]},
        ).result_rows[0][0]
        of_reads = {
            r[0]
            for r in ch.query(
                "SELECT frame_id FROM plate_reads WHERE read_id IN {r:Array(String)}",
                parameters={"r": list(ids)},
            ).result_rows
        }
        assert of_reads & frames, item
