"""A device event's plate box against its camera's zones (enrich side): a box centre in an
exclusion or outside the ROI is named, one that cannot be placed counts."""

from __future__ import annotations

import json

from services.enrich.enrichment import CameraInfo
from services.enrich.reads import device_zone_verdict

EXCLUDE_RIGHT = json.dumps({"roi": [], "exclusions": [[[0.5, 0], [1, 0], [1, 1], [0.5, 1]]]})


def _event(box: dict | None, images: list[dict]) -> dict:
    return {"event_id": "e1", "camera_id": "cam-1", "plate_box": box, "images": images}


def test_device_box_outside_the_zones_is_named() -> None:
    cam = CameraInfo.from_record({"camera_id": "cam-1", "roi": EXCLUDE_RIGHT})
    overview = {"kind": "overview", "width": 1920, "height": 1080}
    crop = {"kind": "plate", "width": 200, "height": 50}
    right = {"x": 1500, "y": 500, "w": 200, "h": 50}
    left = {"x": 100, "y": 500, "w": 200, "h": 50}
    assert device_zone_verdict(_event(right, [crop, overview]), cam.zones) == "excluded"
    assert device_zone_verdict(_event(left, [crop, overview]), cam.zones) is None
    # no box, or only the plate crop's size: the read cannot be placed and counts
    assert device_zone_verdict(_event(None, [overview]), cam.zones) is None
    assert device_zone_verdict(_event(right, [crop]), cam.zones) is None
    roi_top = CameraInfo.from_record(
        {"camera_id": "cam-1", "roi": json.dumps({"roi": [[[0, 0], [1, 0], [1, 0.3], [0, 0.3]]]})}
    )
    assert device_zone_verdict(_event(left, [overview]), roi_top.zones) == "outside-roi"


def test_cameras_without_or_with_unreadable_zones_filter_nothing() -> None:
    box = {"x": 1500, "y": 500, "w": 200, "h": 50}
    ev = _event(box, [{"kind": "overview", "width": 1920, "height": 1080}])
    for roi in ("", "not json", json.dumps({"roi": [[[0, 0], [100, 0], [100, 50]]]})):
        cam = CameraInfo.from_record({"camera_id": "cam-1", "roi": roi})
        assert device_zone_verdict(ev, cam.zones) is None
