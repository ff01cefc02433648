"""Video sources: a camera URL (RTSP, HTTP, file, or the ``sim://`` scene) as a stream of frames.

`open_frames` yields (capture time ms, BGR frame) until the source ends; opening and reading a
network stream are bounded (a stalled stream raises SourceError: a reconnect, not a hung thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import cv2
import numpy as np

from platestream.timeutil import now_ms
from services.ingest import sim

OPEN_TIMEOUT_MS = 10_000
READ_TIMEOUT_MS = 10_000


class SourceError(Exception):
    """The source could not be opened or stopped delivering frames."""


def source_kind(url: str) -> str:
    scheme = urlparse(url).scheme.lower()
    if scheme == "sim":
        return "sim"
    if scheme in ("rtsp", "rtsps", "rtmp"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    return "file"


def redact(url: str) -> str:
    """The URL without credentials, for logs and records."""
    p = urlparse(url)
    if p.password or p.username:
        netloc = p.hostname or ""
        if p.port:
            netloc += f":{p.port}"
        return p._replace(netloc=netloc).geturl()
    return url


def open_frames(
    url: str, *, realtime: bool = True, stop: threading.Event | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(capture time ms, BGR frame) from a source until it ends; SourceError if it cannot open."""
    if source_kind(url) == "sim":
        yield from _sim_frames(url, realtime=realtime, stop=stop)
        return
    if source_kind(url) == "file":
        cap = cv2.VideoCapture(url)
    else:
        # bounded open and read: a stalled stream is a reconnect, not a hung thread
        cap = cv2.VideoCapture(
            url,
            cv2.CAP_ANY,
            [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                OPEN_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                READ_TIMEOUT_MS,
            ],
        )
    if not cap.isOpened():
        raise SourceError(f"cannot open {redact(url)}")
    is_file = source_kind(url) == "file"
    start = now_ms()
    try:
        while stop is None or not stop.is_set():
            ok, frame = cap.read()
            if not ok or frame is None:
                if is_file:
                    return
                raise SourceError(f"{redact(url)} stopped delivering frames")
            ts = start + int(cap.get(cv2.CAP_PROP_POS_MSEC)) if is_file else now_ms()
            yield ts, frame
    finally:
        cap.release()


def _sim_frames(
    url: str, *, realtime: bool, stop: threading.Event | None
) -> Iterator[tuple[int, np.ndarray]]:
    """``sim://scene?seed=7&fps=10&duration=60&width=1280&height=720&start=0``."""
    q = {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}
    try:
        seed = int(q.get("seed", "1"))
        fps = float(q.get("fps", "10"))
        duration = float(q["duration"]) if "duration" in q else None
        size = (int(q.get("width", sim.WIDTH)), int(q.get("height", sim.HEIGHT)))
        t0 = float(q.get("start", "0"))
    except ValueError as exc:
        raise SourceError(f"bad sim URL {url}: {exc}") from exc
    if fps <= 0:
        raise SourceError("sim fps must be > 0")
    start_ms = now_ms()
    wall0 = time.monotonic()
    i = 0
    while stop is None or not stop.is_set():
        t = t0 + i / fps
        if duration is not None and t - t0 >= duration:
            return
        if realtime:
            delay = wall0 + i / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        img, _ = sim.render_frame(seed, t, size=size)
        # scene time maps onto wall time from the start, so ground_truth(seed, (ts-start)/1000) holds
        yield start_ms + round((t - t0) * 1000), img
        i += 1
