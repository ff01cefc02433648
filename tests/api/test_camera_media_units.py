"""Pure logic of the camera-picture and upload-job routes: which hour prefixes hold the frames of
a lookback window, and the frame ids of an upload job."""

from __future__ import annotations

from datetime import UTC, datetime

from platestream.ids import stable_id
from services.api.routes.camera_media import _hour_prefixes
from services.api.routes.upload_events import MAX_FRAMES, job_frame_ids


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_a_window_across_the_hour_lists_both_hours() -> None:
    got = _hour_prefixes("gate 1", ms("2026-12-02T09:55:00"), ms("2026-12-02T10:05:00"))
    assert got == ["frames/gate_1/2026/12/02/09/", "frames/gate_1/2026/12/02/10/"]


def test_a_window_inside_one_hour_lists_it_once() -> None:
    got = _hour_prefixes("cam-a", ms("2026-12-31T23:40:00"), ms("2026-12-31T23:50:00"))
    assert got == ["frames/cam-a/2026/12/31/23/"]


def test_job_frame_ids_are_ingests_and_bounded() -> None:
    ids = job_frame_ids("cam-a", "job-1", 3)
    assert ids == [stable_id("cam-a", "upload", "job-1", seq) for seq in range(3)]
    assert len(job_frame_ids("cam-a", "job-1", MAX_FRAMES * 3)) == MAX_FRAMES
    assert job_frame_ids("cam-a", "job-1", 0) == []
