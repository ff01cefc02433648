"""MIME multipart bodies: whole (form-data pushes) and incremental (x-mixed-replace camera streams).

One parser serves both: cameras rarely follow RFC 2046 to the letter (Dahua sends
``Content-Length`` and sometimes no CRLF before the next boundary; Hikvision uses the bare word
``boundary`` as its boundary), so parts are delimited by Content-Length when given, else by the
next boundary line.

Hostile bodies are bounded: a whole body has at most ``MAX_PARTS`` parts, a part at most
``MAX_PART_BYTES``, and part headers are searched for only within ``MAX_HEADER_BYTES`` of their
delimiter, so each byte is scanned a bounded number of times (40,000 empty parts once took 40 s
because the header search scanned the rest of the body for every part).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from platestream.errors import BadInputError

MAX_HEADER_BYTES = 16 * 1024
MAX_PART_BYTES = 32 * 1024 * 1024
# Parts of one push (a camera sends an event part and a few images); streams have no cap.
MAX_PARTS = 64

_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'(\w+)\*?\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


@dataclass
class Part:
    """One part: lower-cased headers and the body bytes."""

    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def disposition(self) -> dict[str, str]:
        raw = self.headers.get("content-disposition", "")
        return {
            m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
            for m in _DISPOSITION_PARAM.finditer(raw)
        }

    @property
    def name(self) -> str:
        return self.disposition.get("name", "")

    @property
    def filename(self) -> str:
        return self.disposition.get("filename", "")


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart content type, or BadInputError."""
    m = _BOUNDARY.search(content_type or "")
    if not m:
        raise BadInputError(f"multipart content type without a boundary: {content_type[:120]!r}")
    return m.group(1)


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """All parts of a complete multipart body."""
    parser = MultipartStream(boundary_of(content_type))
    parts: list[Part] = []
    for part in parser.feed(body):
        parts.append(part)
        if len(parts) > MAX_PARTS:
            raise BadInputError(f"multipart body has more than {MAX_PARTS} parts")
    parts.extend(parser.close())
    if len(parts) > MAX_PARTS:
        raise BadInputError(f"multipart body has more than {MAX_PARTS} parts")
    if not parts:
        raise BadInputError("multipart body has no parts")
    return parts


class MultipartStream:
    """Incremental multipart parser: ``feed(chunk)`` yields every part completed by the chunk."""

    def __init__(self, boundary: str) -> None:
        self._delim = b"--" + boundary.encode("latin-1")
        self._buf = bytearray()
        self._started = False
        self._closed = False

    def feed(self, chunk: bytes) -> Iterator[Part]:
        self._buf += chunk
        while not self._closed:
            part = self._next_part(final=False)
            if part is None:
                return
            yield part

    def close(self) -> list[Part]:
        """Flush at end of input: a last part without a closing boundary still counts when complete."""
        parts: list[Part] = []
        while not self._closed:
            part = self._next_part(final=True)
            if part is None:
                break
            parts.append(part)
        return parts

    def _next_part(self, *, final: bool) -> Part | None:
        buf = self._buf
        if not self._started:
            idx = buf.find(self._delim)
            if idx < 0:
                if len(buf) > MAX_HEADER_BYTES and not final:
                    raise BadInputError("no multipart boundary found in the first bytes")
                if final and buf.strip():
                    raise BadInputError("multipart body does not contain its boundary")
                return None
            del buf[:idx]
            self._started = True
        # buf starts at a delimiter
        if not buf.startswith(self._delim):
            idx = buf.find(self._delim)
            if idx < 0:
                if final:
                    self._closed = True
                return None
            del buf[:idx]
        after = len(self._delim)
        if len(buf) < after + 2:
            if final:
                self._closed = True
            return None
        if buf[after : after + 2] == b"--":
            self._closed = True
            return None
        # Only the window headers may occupy: a search to the end of the buffer for every part
        # made many small parts quadratic.
        window = after + MAX_HEADER_BYTES + 4
        header_end = buf.find(b"\r\n\r\n", after, window)
        sep = 4
        lf_end = buf.find(b"\n\n", after, window)
        if lf_end >= 0 and (header_end < 0 or lf_end < header_end):
            header_end, sep = lf_end, 2
        if header_end < 0:
            if len(buf) > window:
                raise BadInputError("multipart part headers too long")
            if final:
                raise BadInputError("truncated multipart part headers")
            return None
        headers = _parse_headers(bytes(buf[after:header_end]))
        body_start = header_end + sep
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit():
            n = int(length.strip())
            if n > MAX_PART_BYTES:
                raise BadInputError(f"multipart part of {n} bytes is too large")
            if len(buf) < body_start + n:
                if final:
                    raise BadInputError(
                        "truncated multipart part (shorter than its Content-Length)"
                    )
                return None
            data = bytes(buf[body_start : body_start + n])
            del buf[: body_start + n]
            # skip the CRLF(s) before the next delimiter, tolerate their absence
            while buf[:2] == b"\r\n" or buf[:1] == b"\n":
                del buf[: 2 if buf[:2] == b"\r\n" else 1]
            return Part(headers=headers, data=data)
        nxt = buf.find(self._delim, body_start)
        if nxt < 0:
            if len(buf) - body_start > MAX_PART_BYTES:
                raise BadInputError("multipart part too large")
            if final:
                data = bytes(buf[body_start:]).rstrip(b"\r\n")
                self._closed = True
                buf.clear()
                return Part(headers=headers, data=data)
            return None
        end = nxt
        if buf[end - 2 : end] == b"\r\n":
            end -= 2
        elif buf[end - 1 : end] == b"\n":
            end -= 1
        data = bytes(buf[body_start:end])
        del buf[:nxt]
        return Part(headers=headers, data=data)


def _parse_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        line = line.strip()
        if not line or b":" not in line:
            continue
        key, _, value = line.partition(b":")
        headers[key.decode("latin-1").strip().lower()] = value.decode("utf-8", "replace").strip()
    return headers


def encode_multipart(parts: list[Part], boundary: str, *, closing: bool = True) -> bytes:
    """Build a multipart body (tests, benches and the Dahua test camera use it)."""
    out = bytearray()
    for part in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        for k, v in part.headers.items():
            out += f"{k}: {v}\r\n".encode()
        out += b"\r\n" + part.data + b"\r\n"
    if closing:
        out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out)
