"""Video uploads keep the push routes' rules: a size limit on raw and multipart bodies (413, the
spool emptied), the device's rate limit (429) and the failed-login throttle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.ingest.app import create_app
from services.ingest.processor import ingest_context

from .helpers import ingest_settings

pytestmark = pytest.mark.integration

LIMIT = 100_000
EDGE = {"x-api-key": "edge-secret-1"}
BOUNDARY = "platestream-test-boundary"


def chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    """A body without Content-Length (chunked), so only the running count can stop it."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def multipart(payload: bytes) -> bytes:
    return (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.avi"\r\n'
            "Content-Type: video/x-msvideo\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


@pytest.fixture
def served(settings, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    spool = tmp_path / "spool"
    s = ingest_settings(settings, ingest_upload_max_bytes=LIMIT, ingest_upload_dir=spool)
    with ingest_context(s) as ctx, TestClient(create_app(ctx)) as client:
        yield client, spool


def test_uploads_over_the_limit_are_413_and_leave_no_spool(served) -> None:
    client, spool = served
    big = b"\x00" * (3 * LIMIT)
    declared = client.post("/api/v1/uploads", content=big, headers=EDGE)
    assert declared.status_code == 413, declared.text
    raw = client.post("/api/v1/uploads", content=chunks(big), headers=EDGE)
    assert raw.status_code == 413 and "exceeds" in raw.json()["error"]
    ctype = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    form_declared = client.post(
        "/api/v1/uploads", content=multipart(big), headers={**EDGE, **ctype}
    )
    assert form_declared.status_code == 413, form_declared.text
    # a multipart body of unknown length: the parser is stopped by the count, not the header
    form = client.post("/api/v1/uploads", content=chunks(multipart(big)), headers={**EDGE, **ctype})
    assert form.status_code == 413, form.text
    # just over the limit inside the slack the multipart framing gets: caught on the file's size
    near = client.post(
        "/api/v1/uploads",
        content=chunks(multipart(b"\x00" * (LIMIT + 10))),
        headers={**EDGE, **ctype},
    )
    assert near.status_code == 413, near.text
    assert list(spool.iterdir()) == []
    # under the limit it is read through and judged on its content (not a video: 415)
    small = client.post("/api/v1/uploads", content=chunks(b"x" * 1000), headers=EDGE)
    assert small.status_code == 415 and list(spool.iterdir()) == []
    junk = client.post("/api/v1/uploads", content=b"--nope\r\n\r\n", headers={**EDGE, **ctype})
    assert junk.status_code == 400 and list(spool.iterdir()) == []


def test_uploads_take_the_device_rate_limit_and_the_login_throttle(served) -> None:
    client, _spool = served
    slow = {"x-api-key": "slow-secret-1"}  # 0.5/s, burst 2
    codes = [
        client.post("/api/v1/uploads", content=b"x" * 100, headers=slow).status_code
        for _ in range(4)
    ]
    assert codes[:2] == [415, 415] and codes[2:] == [429, 429], codes
    r = client.post("/api/v1/uploads", content=b"x" * 100, headers=slow)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert client.get("/api/v1/uploads/nope", headers=slow).status_code == 429
    wrong = [
        client.post(
            "/api/v1/uploads", content=b"x", headers={"x-api-key": "wrong-secret"}
        ).status_code
        for _ in range(30)
    ]
    assert wrong[0] == 401 and wrong[-1] == 429, wrong


@pytest.mark.parametrize(
    "secrets",
    [
        {},
        {"upload_token_secret": "upload-key-0123456789abcdef"},
        {"jwt_secret": "jwt-0123456789ab"},
    ],
)
def test_upload_routes_refuse_the_development_key_in_production(secrets: dict[str, str]) -> None:
    from types import SimpleNamespace

    from fastapi import FastAPI

    from platestream.errors import ConfigError
    from services.ingest.settings import IngestSettings
    from services.ingest.uploads import add_upload_routes

    fields = {"env": "production", "s3_secret_key": "s3-real", "clickhouse_password": "ch-real"}
    s = IngestSettings(**fields, **secrets)  # ingest's settings start without the JWT secret
    ctx = SimpleNamespace(settings=s, uploads=None)
    if not secrets:
        with pytest.raises(ConfigError, match="PLATESTREAM_UPLOAD_TOKEN_SECRET"):
            add_upload_routes(FastAPI(), ctx)
    else:
        add_upload_routes(FastAPI(), ctx)


def test_an_upload_token_key_of_its_own_keeps_the_jwt_secret_out_of_ingest() -> None:
    from types import SimpleNamespace

    from platestream import uploadtoken

    key = "upload-token-key-0123456789abcdef"
    api = SimpleNamespace(
        jwt_secret="api-jwt-secret-0123456789-0123456789", upload_token_secret=key
    )
    ingest = SimpleNamespace(jwt_secret="", upload_token_secret=key)
    token = uploadtoken.issue(uploadtoken.key(api), "alice", "cam-1")
    assert uploadtoken.verify(uploadtoken.key(ingest), token) == ("alice", "cam-1")
    # a token made with the API's JWT secret is not an upload token to ingest
    forged = uploadtoken.issue(api.jwt_secret, "mallory", "cam-1")
    assert uploadtoken.verify(uploadtoken.key(ingest), forged) is None
    legacy = SimpleNamespace(jwt_secret="shared-jwt-0123456789-0123456789", upload_token_secret="")
    assert uploadtoken.key(legacy) == "shared-jwt-0123456789-0123456789"
