"""Stored device text reaching users: unsafe image keys get no URL (not a 500), CSV cells no formulas."""

from __future__ import annotations

from types import SimpleNamespace

from minio import Minio

from services.api.routes.events import presign, spreadsheet_safe


def test_unsafe_keys_get_no_url_and_safe_ones_do() -> None:
    s3 = Minio("127.0.0.1:9", access_key="k", secret_key="s", secure=False, region="us-east-1")
    state = SimpleNamespace(
        s3=s3, settings=SimpleNamespace(s3_bucket="anpr", api_presign_ttl_s=300)
    )
    url = presign(state, "crops/cam-1/2026/01/01/00/1-e-plate.jpg")  # type: ignore[arg-type]
    assert url is not None and "/anpr/crops/cam-1/" in url and "X-Amz-Signature" in url
    for bad in ("images/../2026/01/01/00/1-e-plate.jpg", "images/./x.jpg", "a//b", None, ""):
        assert presign(state, bad) is None  # type: ignore[arg-type]


def test_export_cells_that_start_like_a_formula_are_shown_as_text() -> None:
    for formula in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"):
        assert spreadsheet_safe(formula) == "'" + formula
    for plain in ("Ford", "AB12CDE", "", "a=b"):
        assert spreadsheet_safe(plain) == plain
    assert spreadsheet_safe(-1.5) == -1.5 and spreadsheet_safe(None) is None
