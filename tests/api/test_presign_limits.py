"""Presigning a stored key no object can have gives no URL (the page still renders), not a 500."""

from __future__ import annotations

from types import SimpleNamespace

from minio import Minio

from services.api.routes.events import presign


def test_unsafe_keys_get_no_url_and_safe_ones_do() -> None:
    s3 = Minio("127.0.0.1:9", access_key="k", secret_key="s", secure=False, region="us-east-1")
    state = SimpleNamespace(
        s3=s3, settings=SimpleNamespace(s3_bucket="anpr", api_presign_ttl_s=300)
    )
    url = presign(state, "crops/cam-1/2026/01/01/00/1-e-plate.jpg")  # type: ignore[arg-type]
    assert url is not None and "/anpr/crops/cam-1/" in url and "X-Amz-Signature" in url
    for bad in ("images/../2026/01/01/00/1-e-plate.jpg", "images/./x.jpg", "a//b", None, ""):
        assert presign(state, bad) is None  # type: ignore[arg-type]
