"""The console's camera pictures and upload job events in headless Chromium, end to end against
the live stack: the latest plate thumbnail per camera, the zone editor over the camera's latest
stored frame (saved zones on anpr.cameras.v1), and an uploaded video's job listing exactly the
events made from its frames. Screenshots: tests/api/screens.py."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from platestream import topics as catalogue
from platestream.ids import stable_id
from platestream.images import image_key
from platestream.timeutil import now_ms

from .helpers import CHOOSE_PURPOSE_JS, ApiEnv, produce, read_topic, wait_until
from .screens import save_screenshot
from .seed import image_ref
from .test_console_pages import browser, goto, small_video, text  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed"
    ),
]


def scene_jpeg(width: int = 320, height: int = 240) -> bytes:
    import cv2
    import numpy as np

    img = np.full((height, width, 3), 90, np.uint8)
    cv2.rectangle(
        img, (width // 3, height // 2), (width // 2, height // 2 + 20), (240, 240, 240), -1
    )
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


def event_of(env: ApiEnv, camera: str, plate: str, ts: int, **kw: Any) -> dict[str, Any]:
    return {
        **env.seed.events[0],
        "event_id": stable_id("console-media-event", camera, plate, ts),
        "camera_id": camera,
        "camera_name": None,
        "plate": plate,
        "variants": [plate],
        "ts": ts,
        "first_seen": ts - 300,
        "last_seen": ts,
        "watchlist_hits": [],
        **kw,
    }


def test_frame_endpoint_falls_back_to_the_latest_event_image(api_env: ApiEnv) -> None:
    cam, bare = f"cam-scene-{uuid.uuid4().hex[:4]}", f"cam-bare-{uuid.uuid4().hex[:4]}"
    ts = now_ms() - 5000
    images = [image_ref("scene", scene_jpeg(400, 300))]
    produce(
        api_env.settings,
        catalogue.PLATE_EVENTS,
        "plate_event",
        [event_of(api_env, cam, "SCN1234", ts, images=images)],
    )
    r = wait_until(
        lambda: (r := api_env.get(f"/api/v1/cameras/{cam}/frame")).status_code == 200 and r,
        30,
        "the scene image of the camera's event",
    )
    body = r.json()
    assert body["origin"] == "event-image" and body["kind"] == "scene" and body["ts"] == ts
    # the row can reach ClickHouse before the S3 sink has stored its image (two consumers of the
    # topic): a loaded fresh-clone run fetched the URL first and got S3's NoSuchKey; wait for it
    wait_until(
        lambda: api_env.http.get(body["url"]).content[:2] == b"\xff\xd8",  # a JPEG
        30,
        "the scene image in the bucket behind the presigned URL",
    )
    missing = api_env.get(f"/api/v1/cameras/{bare}/frame")
    assert missing.status_code == 404 and "no stored image" in missing.text
    assert api_env.get(f"/api/v1/cameras/{cam}/frame", "viewer").status_code == 403
    assert api_env.get("/api/v1/cameras/..%2Fx/frame").status_code in (404, 422)


def test_cameras_page_latest_thumbnail_and_zone_editor_over_latest_frame(
    api_env: ApiEnv,
    browser: Any,  # noqa: F811
) -> None:
    cam = f"cam-media-{uuid.uuid4().hex[:4]}"
    r = api_env.http.put(
        f"/api/v1/cameras/{cam}", json={"name": "Media gate"}, headers=api_env.headers("admin")
    )
    assert r.status_code == 200, r.text
    plate = "MED" + uuid.uuid4().hex[:4].upper()
    produce(
        api_env.settings,
        catalogue.PLATE_EVENTS,
        "plate_event",
        [event_of(api_env, cam, plate, now_ms() - 3000)],
    )
    # a frame as ingest leaves it in the bucket when it travels by claim check
    frame_ts = now_ms() - 2000
    key = image_key("frames", cam, frame_ts, stable_id(cam, "test", "s", 0), "frame")
    jpeg = scene_jpeg(320, 240)
    api_env.state.s3.put_object(
        api_env.settings.s3_bucket, key, io.BytesIO(jpeg), len(jpeg), content_type="image/jpeg"
    )
    latest = wait_until(
        lambda: [
            x for x in api_env.get("/api/v1/camera-status/latest").json() if x["camera_id"] == cam
        ],
        30,
        "the camera's latest read",
    )
    assert latest[0]["plate"] == plate and latest[0]["thumbnail_url"]
    frame = api_env.get(f"/api/v1/cameras/{cam}/frame").json()
    assert frame["origin"] == "stored-frame" and frame["ts"] == frame_ts
    assert api_env.http.get(frame["url"]).content == jpeg
    assert api_env.http.get("/api/v1/camera-status/latest").status_code == 401
    for path in ("/api/v1/camera-status/latest", f"/api/v1/cameras/{cam}/frame"):
        why = api_env.get(path, headers={"X-Purpose": ""})  # plates and frames need a purpose
        assert why.status_code == 422 and why.json()["detail"][0]["loc"] == ["query", "purpose"]

    row = f'#cam-live tr[data-id="{cam}"]'
    # no purpose stated in this browser yet: the page says why it shows no plate
    goto(
        browser, "cameras", "document.querySelector('#cam-latest-note').textContent.includes('422')"
    )
    assert "purpose" in text(browser, "#cam-latest-note")
    assert text(browser, f"{row} .cam-latest") == ""
    browser.wait_for(CHOOSE_PURPOSE_JS)
    browser.wait_for(
        f"(() => {{ const i = document.querySelector('{row} .cam-latest img');"
        " return !!i && i.complete && i.naturalWidth > 0; })()",
        20,
    )
    assert plate in text(browser, f"{row} .cam-latest")
    browser.eval(f"document.querySelector('{row} .cam-edit').click(); true")
    assert browser.wait_for("document.querySelector('#zone-canvas').dataset.frame") == (
        "stored-frame"
    )
    # the canvas took the frame's 4:3 shape, so canvas fractions are frame fractions
    assert browser.eval("document.querySelector('#zone-canvas').height") == 480
    assert "latest stored frame" in text(browser, "#zone-summary")
    points = [[0.2, 0.25], [0.8, 0.25], [0.8, 0.75], [0.2, 0.75]]
    browser.eval(f"""(() => {{ const c = document.querySelector('#zone-canvas'); const r = c.getBoundingClientRect();
        for (const [x, y] of {json.dumps(points)}) c.dispatchEvent(new MouseEvent('click',
            {{ clientX: r.left + c.clientLeft + x * c.clientWidth, clientY: r.top + c.clientTop + y * c.clientHeight, bubbles: true }}));
        document.querySelector('#zone-roi').click(); return true; }})()""")
    assert "1 ROI" in text(browser, "#zone-summary")
    save_screenshot(browser, "cameras-zone-editor")
    browser.eval("document.querySelector('#cam-save').click(); true")
    assert browser.wait_for("document.querySelector('#cam-status').textContent") == "Saved."
    # the camera record on the compacted topic carries the polygon, in frame fractions
    records = [v for k, v in read_topic(api_env, catalogue.CAMERAS) if k == cam.encode()]
    zones = json.loads(records[-1]["roi"])
    assert zones["exclusions"] == [] and len(zones["roi"]) == 1
    assert zones["roi"][0] == [pytest.approx(p, abs=0.004) for p in points]
    save_screenshot(browser, "cameras-latest-plate")
    # adding a camera that already sends frames: its id typed in, the editor loads its frame
    new = f"cam-new-{uuid.uuid4().hex[:4]}"
    key = image_key("frames", new, now_ms() - 1000, stable_id(new, "test", "s", 0), "frame")
    wide = scene_jpeg(640, 360)
    api_env.state.s3.put_object(
        api_env.settings.s3_bucket, key, io.BytesIO(wide), len(wide), content_type="image/jpeg"
    )
    browser.eval("document.querySelector('#cam-new').click(); true")
    assert browser.eval("document.querySelector('#cam-form').camera_id.readOnly") is False
    browser.eval(f"""(() => {{ const f = document.querySelector('#cam-form'); f.camera_id.value = {new!r};
        f.camera_id.dispatchEvent(new Event('change')); f.name.value = 'New gate'; return true; }})()""")
    assert browser.wait_for("document.querySelector('#zone-canvas').dataset.frame") == (
        "stored-frame"
    )
    assert browser.eval("document.querySelector('#zone-canvas').height") == 360  # 16:9
    triangle = [[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]]
    browser.eval(f"""(() => {{ const c = document.querySelector('#zone-canvas'); const r = c.getBoundingClientRect();
        for (const [x, y] of {json.dumps(triangle)}) c.dispatchEvent(new MouseEvent('click',
            {{ clientX: r.left + c.clientLeft + x * c.clientWidth, clientY: r.top + c.clientTop + y * c.clientHeight, bubbles: true }}));
        document.querySelector('#zone-excl').click(); document.querySelector('#cam-save').click(); return true; }})()""")
    assert browser.wait_for("document.querySelector('#cam-status').textContent") == "Saved."
    added = [v for k, v in read_topic(api_env, catalogue.CAMERAS) if k == new.encode()][-1]
    assert added["name"] == "New gate"
    excl = json.loads(added["roi"])["exclusions"]
    assert len(excl) == 1 and excl[0] == [pytest.approx(p, abs=0.004) for p in triangle]
    # a polygon outside the frame is a 422 naming the field
    bad = api_env.http.patch(
        f"/api/v1/cameras/{cam}",
        json={"zones": {"roi": [[[0.1, 0.1], [1.5, 0.2], [0.5, 0.9]]], "exclusions": []}},
        headers=api_env.headers("admin"),
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:3] == ["body", "zones", "roi"]


def test_upload_page_lists_the_events_of_its_job(
    api_env: ApiEnv,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from .ingest_env import running_ingest

    cam = f"cam-upjob-{uuid.uuid4().hex[:4]}"
    video = small_video(tmp_path / "gate.avi")
    with running_ingest(api_env, uploads=True, ingest_upload_dir=tmp_path / "spool"):
        goto(browser, "upload", "!!document.querySelector('#upload-form')")
        doc = browser.call("DOM.getDocument")
        node = browser.call(
            "DOM.querySelector", nodeId=doc["root"]["nodeId"], selector="#upload-form [name=file]"
        )
        browser.call("DOM.setFileInputFiles", files=[str(video)], nodeId=node["nodeId"])
        browser.eval(
            f"document.querySelector('#upload-form').camera_id.value = {cam!r};"
            "document.querySelector('#upload-submit').click(); true"
        )
        state = browser.wait_for(
            "(() => { const s = document.querySelector('.job-state'); return s && ['done', 'failed'].includes(s.textContent) && s.textContent; })()",
            60,
        )
        assert state == "done", text(browser, "#upload-job")
        browser.wait_for(CHOOSE_PURPOSE_JS)  # the job's events show plates: a stated purpose
        job_id = text(browser, ".job-job")
        sent = int(text(browser, ".job-frames-sent"))
        assert sent >= 5
        # ingest's frames of the job carry its id, and their ids are the ones the API derives
        frames = [
            v
            for _, v in read_topic(api_env, catalogue.FRAMES)
            if v is not None and v.get("job_id") == job_id
        ]
        derived = {stable_id(cam, "upload", job_id, seq) for seq in range(sent)}
        assert len(frames) == sent and {f["frame_id"] for f in frames} == derived
        # detect and enrich, played by the test: reads of frames 0 and 2 and their events, and an
        # event of the same camera at the same time from a frame of no job
        ts = now_ms()
        plates = {"JOB" + uuid.uuid4().hex[:4].upper(): 0, "JOB" + uuid.uuid4().hex[:4].upper(): 2}
        other = "OTH" + uuid.uuid4().hex[:4].upper()
        reads, events = [], []
        for plate, seq in [*plates.items(), (other, None)]:
            frame_id = (
                stable_id(cam, "upload", job_id, seq)
                if seq is not None
                else stable_id(cam, "rtsp", "live", 1)
            )
            read_id = stable_id("upjob-read", job_id, plate)
            base = api_env.seed.reads[0]
            reads.append({**base, "read_id": read_id, "frame_id": frame_id, "camera_id": cam})
            reads[-1].update(ts=ts, plate=plate, plate_raw=plate)
            events.append(
                event_of(api_env, cam, plate, ts, read_ids=[read_id], best_read_id=read_id)
            )
        produce(api_env.settings, catalogue.PLATE_READS, "plate_read", reads)
        produce(api_env.settings, catalogue.PLATE_EVENTS, "plate_event", events)
        browser.wait_for("document.querySelectorAll('#upload-events tbody tr').length === 2", 40)
        shown = browser.eval(
            "Array.from(document.querySelectorAll('#upload-events tbody tr .plate')).map((e) => e.textContent)"
        )
        assert sorted(shown) == sorted(plates)
        save_screenshot(browser, "upload-job-events")
        items = api_env.get(f"/api/v1/uploads/{job_id}/events").json()
        assert sorted(i["plate"] for i in items) == sorted(plates)
        assert all(i["thumbnail_url"] for i in items)
        assert api_env.get(f"/api/v1/uploads/{job_id}/events", "viewer").status_code == 403
        why = api_env.get(f"/api/v1/uploads/{job_id}/events", headers={"X-Purpose": ""})
        assert why.status_code == 422 and "purpose" in why.text
        assert api_env.get(f"/api/v1/uploads/{uuid.uuid4()}/events").status_code == 404
