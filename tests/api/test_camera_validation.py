"""Camera writes that detect or the camera manager could not apply are refused with a 422 that
names the field: a zone point outside the frame, an unknown plate format, an out-of-range setting."""

from __future__ import annotations

import pytest

from tests.api.helpers import ApiEnv

pytestmark = pytest.mark.integration

GOOD = {"stream_url": "sim://scene?seed=2", "plate_formats": ["GB", "EU"]}


def _loc(resp) -> list[list]:  # type: ignore[no-untyped-def]
    return [e["loc"] for e in resp.json()["detail"]]


def test_bad_zones_formats_and_settings_are_422_naming_the_field(api_env: ApiEnv) -> None:
    h = api_env.headers("admin")
    put = lambda body: api_env.http.put("/api/v1/cameras/cam-v1", json=body, headers=h)  # noqa: E731

    r = put({**GOOD, "zones": {"roi": [], "exclusions": [[[0, 0], [1.2, 0], [1, 1]]]}})
    assert r.status_code == 422
    assert (
        _loc(r)[0][:4] == ["body", "zones", "exclusions", 0] and "less than or equal to 1" in r.text
    )

    r = put({**GOOD, "zones": {"roi": [[[0, 0], [-0.1, 0.5], [1, 1]]]}})
    assert r.status_code == 422 and _loc(r)[0][:3] == ["body", "zones", "roi"]

    r = put({**GOOD, "plate_formats": ["GB", "ATLANTIS"]})
    assert r.status_code == 422 and _loc(r) == [["body", "plate_formats"]]
    assert "ATLANTIS" in r.text

    for field, value in (("jpeg_quality", 5), ("fps_cap", 0), ("kind", "teleporter")):
        r = put({**GOOD, field: value})
        assert r.status_code == 422 and _loc(r)[0] == ["body", field], (field, r.text)

    ok = put(
        {
            **GOOD,
            "zones": {"roi": [[[0, 0], [1, 0], [1, 1], [0, 1]]], "exclusions": []},
            "fps_cap": 2.5,
            "jpeg_quality": 70,
            "kind": "stream",
        }
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["fps_cap"], ok.json()["jpeg_quality"], ok.json()["kind"]) == (
        2.5,
        70,
        "stream",
    )
    r = api_env.http.patch("/api/v1/cameras/cam-v1", json={"plate_formats": ["NOPE"]}, headers=h)
    assert r.status_code == 422 and _loc(r) == [["body", "plate_formats"]]
    r = api_env.http.patch("/api/v1/cameras/cam-v1", json={"enabled": False}, headers=h)
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["fps_cap"] == 2.5
