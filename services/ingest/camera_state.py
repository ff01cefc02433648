"""The push server's view of ``anpr.cameras.v1``: which cameras are out of service.

A camera set to ``enabled=false`` stops its stream (camera manager) and has its pushes refused
with 403 here. Cameras the topic does not know are not refused: push-only devices may come before
their camera record. Fed by the same follower as the device registry (read from the beginning,
no group, last record per key wins).
"""

from __future__ import annotations

import threading
from typing import Any


class CameraDirectory:
    """Camera id -> enabled, as the cameras topic says; thread-safe."""

    def __init__(self) -> None:
        self._disabled: set[str] = set()
        self._lock = threading.Lock()
        self.ready = threading.Event()

    def apply(self, camera_id: str, record: dict[str, Any] | None) -> None:
        off = record is not None and not bool(record.get("enabled", True))
        with self._lock:
            if off:
                self._disabled.add(camera_id)
            else:
                self._disabled.discard(camera_id)

    def disabled(self, camera_id: str) -> bool:
        with self._lock:
            return camera_id in self._disabled
