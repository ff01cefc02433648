"""Projections of the control-plane topics the API serves: devices, device status, alert routes
and camera status, and how status records from several producers are merged for display."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platestream import topics as catalogue
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from services.api.projection import TopicProjection

STATUS_FRESH_MS = 3 * 60_000  # a replica's device counts older than this are not added up
CAMERA_STATUS_TAIL = 20_000  # camera status is not compacted: read this much of each partition


def _camera_status_key(_key: str, record: dict[str, Any]) -> str:
    # One entry per camera and producer (frame source, connector, health, ingest): a heartbeat of
    # one must not hide the offline verdict of another.
    return f"{record.get('camera_id', '')}|{record.get('source', '')}"


@dataclass
class ControlPlane:
    devices: TopicProjection
    device_status: TopicProjection
    alert_routes: TopicProjection
    camera_status: TopicProjection

    @classmethod
    def build(cls, settings: CommonSettings, serde: AvroSerde) -> ControlPlane:
        def projection(topic: catalogue.Topic, **kw: Any) -> TopicProjection:
            return TopicProjection(
                settings=settings, topic=settings.topic(topic.name), serde=serde, **kw
            )

        return cls(
            devices=projection(catalogue.DEVICES),
            device_status=projection(catalogue.DEVICE_STATUS),
            alert_routes=projection(catalogue.ALERT_ROUTES),
            camera_status=projection(
                catalogue.CAMERA_STATUS, key_of=_camera_status_key, tail=CAMERA_STATUS_TAIL
            ),
        )

    def projections(self) -> list[TopicProjection]:
        return [self.devices, self.device_status, self.alert_routes, self.camera_status]

    def device_activity(self, now: int | None = None) -> dict[str, dict[str, Any]]:
        """device id -> last seen, pushes/rejects per minute (summed over fresh replica counts),
        remote address and last reject of the latest report."""
        now = now or now_ms()
        out: dict[str, dict[str, Any]] = {}
        for rec in self.device_status.values():
            dev = out.setdefault(
                rec["device_id"],
                {
                    "last_seen": None,
                    "pushes_per_min": 0,
                    "rejects_per_min": 0,
                    "remote_addr": None,
                    "last_reject": None,
                },
            )
            if now - int(rec["ts"]) <= STATUS_FRESH_MS:
                dev["pushes_per_min"] += int(rec["pushes_per_min"])
                dev["rejects_per_min"] += int(rec["rejects_per_min"])
            seen = rec.get("last_seen")
            if seen is not None and (dev["last_seen"] is None or seen > dev["last_seen"]):
                dev.update(
                    last_seen=seen,
                    remote_addr=rec.get("remote_addr"),
                    last_reject=rec.get("last_reject"),
                )
        return out

    def camera_states(self) -> dict[str, dict[str, Any]]:
        """camera id -> merged status: the latest online/offline verdict, fps from the frame
        source, event rate from health, the latest event time and status time."""
        by_camera: dict[str, list[dict[str, Any]]] = {}
        for rec in self.camera_status.values():
            by_camera.setdefault(rec["camera_id"], []).append(rec)
        out = {}
        for cam, recs in by_camera.items():
            recs.sort(key=lambda r: int(r["ts"]))
            verdicts = [r for r in recs if r["state"] != "heartbeat"]
            latest = verdicts[-1] if verdicts else recs[-1]
            state = latest["state"] if verdicts else "online"
            fps = next((r["fps"] for r in reversed(recs) if r.get("fps") is not None), None)
            rate = next(
                (
                    r["events_per_min"]
                    for r in reversed(recs)
                    if r.get("events_per_min") is not None
                ),
                None,
            )
            last_event = max((r["last_event_ts"] or 0 for r in recs), default=0) or None
            out[cam] = {
                "camera_id": cam,
                "state": state,
                "reason": latest.get("reason"),
                "source": latest.get("source"),
                "since": int(latest["ts"]),
                "updated_at": int(recs[-1]["ts"]),
                "fps": fps,
                "events_per_min": rate,
                "last_event_ts": last_event,
                "details": recs[-1].get("details") or {},
            }
        return out
