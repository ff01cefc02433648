"""The camera manager on the local stack: a camera record starts, changes and stops its source
within 5 s, the frames carry the camera's settings, and a bad URL is an offline status."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from platestream import topics as catalogue
from platestream.stack.ports import free_port
from services.ingest.camera_service import camera_manager
from services.ingest.settings import IngestSettings
from tests.ingest.camera_helpers import Cameras, TopicReader

pytestmark = pytest.mark.integration

# The targets are 5 s (start, change, stop); a shared CI machine with a CPU hog beside
# the suite has been seen to need more, so make test allows 3x and prints what it measured.
WITHIN_S = 15.0

EXCLUDE_LOWER_HALF = json.dumps({"roi": [], "exclusions": [[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]]})


@pytest.fixture
def manager(settings) -> Iterator[tuple[IngestSettings, threading.Event]]:
    s = IngestSettings(
        **{
            **settings.model_dump(),
            "ingest_cameras_metrics_port": free_port(),
            "ingest_heartbeat_s": 1.0,
            "ingest_reconnect_min_s": 0.2,
            "ingest_reconnect_max_s": 1.0,
            "ingest_manager_id": "m-test",
        }
    )
    stop = threading.Event()
    with camera_manager(s, stop) as mgr:
        thread = threading.Thread(target=mgr.run, daemon=True)
        thread.start()
        try:
            yield s, stop
        finally:
            stop.set()
            thread.join(15)
    assert not thread.is_alive()


def test_camera_record_starts_changes_and_stops_its_source(manager) -> None:
    s, _stop = manager
    cams = Cameras(s)
    frames = TopicReader(s, catalogue.FRAMES)
    status = TopicReader(s, catalogue.CAMERA_STATUS)
    mine = lambda r: r["camera_id"] == "cam-a"  # noqa: E731

    t0 = time.monotonic()
    cams.put("cam-a", "sim://scene?seed=5&fps=4", plate_formats=["GB"], fps_cap=2.0)
    first = frames.wait_for(mine, WITHIN_S, "the first frame of cam-a")
    print(f"first frame {time.monotonic() - t0:.1f} s after the camera record")
    assert first["plate_formats"] == ["GB"] and first["source"] == "sim"
    online = status.wait_for(lambda r: mine(r) and r["state"] == "online", WITHIN_S, "online")
    assert online["manager"] == "m-test"
    # the fps cap of 2/s holds against a 4 fps source: the frames sent are half a second apart in
    # capture time. (The heartbeats' fps counts frames per second of wall clock over one second:
    # on a loaded machine frames read late come closer together there, 2.9 seen in a rehearsal.)
    capped = lambda r: mine(r) and r["plate_formats"] == ["GB"]  # noqa: E731
    frames.wait_for(
        lambda r: capped(r) and len([x for x in frames.records if capped(x)]) >= 5,
        WITHIN_S,
        "5 frames under the cap",
    )
    times = [r["ts"] for r in frames.records if capped(r)]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 499, times
    port = s.ingest_cameras_metrics_port
    assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    assert (
        "platestream_ingest_cameras_running 1.0"
        in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    )

    at = frames.mark()
    cams.put("cam-a", "sim://scene?seed=5&fps=4", plate_formats=["BR"], roi=EXCLUDE_LOWER_HALF)
    changed = frames.wait_for(
        lambda r: mine(r) and r["plate_formats"] == ["BR"], WITHIN_S, "frames w/ new formats", at
    )
    assert json.loads(changed["zones"])["exclusions"][0][2] == [1.0, 1.0]
    beat = status.wait_for(
        lambda r: mine(r) and r["state"] == "heartbeat" and r["fps"], WITHIN_S, "a heartbeat"
    )
    assert 0 < beat["fps"] <= 4 and beat["last_frame_ts"] is not None

    cams.put("cam-a", "sim://scene?seed=5&fps=4", enabled=False)
    status.wait_for(
        lambda r: mine(r) and r["state"] == "offline" and r["reason"] == "disabled",
        WITHIN_S,
        "disabled",
    )
    time.sleep(0.5)  # a frame already produced may still land
    at = frames.mark()
    time.sleep(2.0)
    frames.mark()
    assert not [r for r in frames.records[at:] if mine(r)]

    # a URL that cannot be opened: offline with the reason, the manager lives on
    cams.put("cam-b", "rtsp://127.0.0.1:9/nothing-here")
    bad = status.wait_for(
        lambda r: r["camera_id"] == "cam-b" and r["state"] == "offline", 20, "cam-b offline"
    )
    assert "cannot open" in bad["reason"]
    cams.put("cam-c", "sim://scene?seed=6&fps=4")
    frames.wait_for(
        lambda r: r["camera_id"] == "cam-c", WITHIN_S, "cam-c frames after cam-b failed"
    )
    cams.delete("cam-c")
    status.wait_for(
        lambda r: r["camera_id"] == "cam-c" and r["reason"] == "deleted", WITHIN_S, "deleted"
    )
    for r in (frames, status):
        r.close()
