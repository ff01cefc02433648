"""A ZIP written as it is sent: ``stream_zip`` yields each entry's bytes as soon as it is added.

``zipfile`` writes into a sink that cannot seek, so every entry carries a data descriptor (sizes
and CRC after the data) and the central directory comes last; the sink is emptied after every
entry. Memory is one entry (its bytes and its compressed copy), whatever the ZIP's total size.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator

STORED_SUFFIXES = (".jpg", ".jpeg", ".png")  # already compressed: deflating them only costs CPU


class _Sink(io.RawIOBase):
    """Write-only, unseekable: zipfile then streams (data descriptors, no seeking back)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        data = bytes(b)
        self._chunks.append(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return False

    def seek(self, *_args: object) -> int:
        raise io.UnsupportedOperation("a streamed ZIP cannot seek")

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def stream_zip(entries: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """The ZIP of ``(name, data)`` entries, one chunk per entry (and one for the directory);
    ``entries`` is read lazily, one entry ahead of what has been yielded."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            kind = zipfile.ZIP_STORED if name.lower().endswith(STORED_SUFFIXES) else None
            zf.writestr(name, data, compress_type=kind)
            chunk = sink.drain()
            if chunk:
                yield chunk
    tail = sink.drain()
    if tail:
        yield tail
