"""Every answer carries the security headers; a route's own header wins; API JSON is not cached."""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.testclient import TestClient

from platestream.httpheaders import SecurityHeaders

app = FastAPI()
app.add_middleware(SecurityHeaders, no_store_prefix="/api/")


@app.get("/api/x")
def api_x() -> dict[str, int]:
    return {"x": 1}


@app.get("/ui/page")
def page(response: Response) -> dict[str, int]:
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return {"x": 2}


def test_headers_on_answers_errors_and_unknown_paths() -> None:
    client = TestClient(app)
    for path, status in (("/api/x", 200), ("/nowhere", 404)):
        r = client.get(path)
        assert r.status_code == status
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
    assert client.get("/api/x").headers["cache-control"] == "no-store"
    r = client.get("/ui/page")
    assert r.headers["x-frame-options"] == "SAMEORIGIN" and "cache-control" not in r.headers
