"""The multipart parser: whole bodies, byte-by-byte streams, camera quirks."""

from __future__ import annotations

import pytest

from platestream.errors import BadInputError
from services.ingest.multipart import (
    MultipartStream,
    Part,
    boundary_of,
    encode_multipart,
    parse_multipart,
)

PARTS = [
    Part({"Content-Type": "text/plain", "Content-Length": "9"}, b"Heartbeat"),
    Part({"Content-Type": "image/jpeg"}, b"\xff\xd8\xff\xe0--myboundar\r\n\x00binary"),
    Part({"Content-Disposition": 'form-data; name="anpr.xml"; filename="anpr.xml"'}, b"<x/>"),
]


def test_whole_body() -> None:
    parts = parse_multipart(
        encode_multipart(PARTS, "myboundary"), 'multipart/form-data; boundary="myboundary"'
    )
    assert [p.data for p in parts] == [p.data for p in PARTS]
    assert parts[2].name == "anpr.xml" and parts[2].filename == "anpr.xml"
    assert parts[0].content_type == "text/plain"


@pytest.mark.parametrize("chunk", [1, 7, 64, 100000])
def test_incremental_any_chunking(chunk: int) -> None:
    body = encode_multipart(PARTS, "myboundary", closing=False) * 3
    stream = MultipartStream("myboundary")
    got = []
    for i in range(0, len(body), chunk):
        got.extend(stream.feed(body[i : i + chunk]))
    got.extend(stream.close())
    assert [p.data for p in got] == [p.data for p in PARTS] * 3


def test_content_length_without_crlf_before_next_boundary() -> None:
    body = b"--b\r\nContent-Length: 3\r\n\r\nabc--b\r\nContent-Length: 2\r\n\r\nde\r\n--b--\r\n"
    assert [p.data for p in parse_multipart(body, "multipart/x-mixed-replace; boundary=b")] == [
        b"abc",
        b"de",
    ]


def test_errors() -> None:
    with pytest.raises(BadInputError, match="boundary"):
        boundary_of("multipart/form-data")
    with pytest.raises(BadInputError, match="does not contain its boundary"):
        parse_multipart(b"hello", "multipart/form-data; boundary=zz")
    with pytest.raises(BadInputError, match="shorter than its Content-Length"):
        parse_multipart(
            b"--zz\r\nContent-Length: 100\r\n\r\nabc", "multipart/form-data; boundary=zz"
        )
