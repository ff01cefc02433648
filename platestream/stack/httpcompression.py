"""Compressed HTTP bodies of the ClickHouse HTTP adapter: request Content-Encoding, response
Accept-Encoding.

The encodings ClickHouse accepts that Python can read (gzip, deflate, lz4 frames, zstd, brotli when
installed, xz, bz2); failures answer as ClickHouse errors (CANNOT_DECOMPRESS,
UNKNOWN_COMPRESSION_METHOD). Pure functions, unit-tested without chDB or a socket.
"""

from __future__ import annotations

import gzip
import zlib

import lz4.frame

from platestream.stack.httpcodec import CANNOT_DECOMPRESS, UNKNOWN_COMPRESSION_METHOD, HttpError

try:  # Python < 3.14 ships zstd as a backport (a clickhouse-connect dependency)
    from backports import zstd as _zstd
except ImportError:  # pragma: no cover - Python 3.14+
    from compression import zstd as _zstd  # type: ignore[no-redef]

try:
    import brotli as _brotli  # type: ignore[import-not-found]
except ImportError:
    _brotli = None


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """Undo a request's Content-Encoding (the ones ClickHouse accepts that Python can read)."""
    if not encoding or not body:
        return body
    enc = encoding.strip().lower()
    try:
        if enc in ("identity", ""):
            return body
        if enc in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if enc == "deflate":
            return _zlib_streams(body)
        if enc == "lz4":
            return _lz4_frames(body)
        if enc == "zstd":
            return _zstd.decompress(body)
        if enc == "br" and _brotli is not None:
            return bytes(_brotli.decompress(body))
        if enc in ("xz", "lzma"):
            import lzma

            return lzma.decompress(body)
        if enc in ("bz2", "bzip2"):
            import bz2

            return bz2.decompress(body)
    except Exception as exc:  # every codec raises its own type
        raise HttpError(
            CANNOT_DECOMPRESS, f"Cannot decompress request body ({enc}): {exc}", "CANNOT_DECOMPRESS"
        ) from exc
    raise HttpError(
        UNKNOWN_COMPRESSION_METHOD,
        f"Unknown HTTP Content-Encoding {encoding!r}",
        "UNKNOWN_COMPRESSION_METHOD",
    )


def _lz4_frames(body: bytes) -> bytes:
    """Decompress concatenated LZ4 frames (clickhouse-connect compresses each block as one frame)."""
    out = []
    view = memoryview(body)
    while len(view):
        dec = lz4.frame.LZ4FrameDecompressor()
        out.append(dec.decompress(view))
        if not dec.eof:
            raise ValueError("truncated LZ4 frame")
        view = view[len(view) - len(dec.unused_data or b"") :]
    return b"".join(out)


def _zlib_streams(body: bytes) -> bytes:
    out = []
    while body:
        dec = zlib.decompressobj()
        out.append(dec.decompress(body))
        body = dec.unused_data
    return b"".join(out)


RESPONSE_ENCODINGS = ("lz4", "zstd", "gzip", "deflate")


def pick_response_encoding(accept: str | None) -> str | None:
    """The first Accept-Encoding we can produce (the client's order wins)."""
    if not accept:
        return None
    for item in accept.split(","):
        name = item.split(";", 1)[0].strip().lower()
        if name in RESPONSE_ENCODINGS:
            return name
        if name == "br" and _brotli is not None:
            return name
    return None


def encode_body(body: bytes, encoding: str) -> bytes:
    if encoding == "lz4":
        return bytes(lz4.frame.compress(body))
    if encoding == "zstd":
        return bytes(_zstd.compress(body))
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=3)
    if encoding == "deflate":
        return zlib.compress(body, 3)
    if encoding == "br" and _brotli is not None:
        return bytes(_brotli.compress(body))
    raise ValueError(encoding)
