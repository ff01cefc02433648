"""Alerts that do not wait for a backlog: a lookout reads ahead of a lagging enrich loop.

Enrich handles reads in order, so while it catches up on a backlog (a restart, a burst, a slow
machine) a watchlist hit at the end of the backlog waits for everything before it (21 s at p99 in
issue 18's runs). The lookout is a thread of the enrich process with a consumer of its own (no
group, nothing committed): every ``enrich_lookout_check_ms`` it looks, per input partition the
loop owns, at how long the last record the loop handled had been written (its timestamp) when
the loop got to it; where that is more than ``enrich_lookout_lag_ms``, the lookout starts reading
the partition at its end and
raises an early alert for every confident read (of our detector, or of a device: the camera
events partitions are watched the same way) that hits a BOLO entry, within the consume time
of one small batch. It stops reading the partition once the loop has caught up with it, so on
a loop that keeps up it costs a look at two dicts per check. (Counting the records behind would
need each partition's end, which the local broker reports wrongly after a large batch.)

One alert per vehicle, whoever raises it: an early alert's id is ``early_alert_id(entry,
read_id)`` (alerts.py), the loop's and the lookout's alike, and the lookout's ``event_id`` is
empty (the passage is not known yet). The lookout writes its note before it sends, and skips a
read the loop has taken already (one lock for both). When the loop reaches that read it takes the
lookout's note, counts the entry as alerted for the passage (so neither its early nor its closing
alert repeats it) and sends the alert again under the same id with the passage's ``event_id``:
receivers already dedupe alerts on their id, and the alerts table keeps the later, complete copy.
Notes stay until they age out, so a loop that reads the partition again (a rebalance) completes
them the same way; a restarted process has no notes, but its loop alerts the same confident read
early under the same id. Within a camera, an entry alerted by the lookout is not alerted again
while its hits follow each other within ``enrich_gap_ms`` of event time (the reads of one
passage, however long the vehicle stays in view).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from services.enrich import reads
from services.enrich.bolo import Entry, Watchlists
from services.enrich.enrichment import Cameras
from services.enrich.passage import Read
from services.enrich.settings import EnrichSettings

logger = logging.getLogger(__name__)

TopicPart = tuple[str, int]
IDLE_MS = 2000  # a partition the loop got no record from for this long is not behind
NOTE_TTL_S = 600.0  # notes the loop never takes (a partition moved away) are forgotten


def _copied(read: Callable[[], dict[TopicPart, Any]]) -> dict[TopicPart, Any]:
    """A dict the loop's thread writes, read from this one (a copy can meet a resize)."""
    for _ in range(3):
        try:
            return dict(read())
        except RuntimeError:
            continue
    return {}


class AlertLookout:
    """Reads ahead of the enrich loop on its lagging partitions; raises early BOLO alerts."""

    def __init__(
        self,
        *,
        settings: EnrichSettings,
        consumer: Consumer,
        serde: Any,
        watchlists: Watchlists,
        cameras: Cameras,
        reads_topic: str,
        camera_events_topic: str,
        loop_positions: Callable[[], dict[TopicPart, int]],
        loop_times: Callable[[], dict[TopicPart, tuple[int, int]]],
        alert: Callable[[Entry, Read], None],
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.serde = serde
        self.watchlists = watchlists
        self.cameras = cameras
        self.topics = (reads_topic, camera_events_topic)  # detector reads, device reads
        self.loop_positions = loop_positions  # the loop's next offset per owned partition
        self.loop_times = loop_times  # per partition: when the loop handled its last record, and
        # when that record was written (ms): how far behind the loop is
        self.alert = alert  # (entry, read) -> produce, under early_alert_id
        self.started_at: dict[TopicPart, int] = {}  # partitions read, and the offset it began at
        self._notes: dict[str, tuple[float, list[Entry]]] = {}  # read id -> (when, entries)
        # per watched partition, the last offset the loop took: a read the loop has taken is its
        # own to alert (the lookout's claim and the loop's take meet under one lock)
        self._loop_took: dict[TopicPart, int] = {}
        self._last: dict[tuple[str, str], int] = {}  # (camera, entry) -> ts of its last hit
        self._lock = threading.Lock()
        self.alerts = 0

    # --- what the loop calls -------------------------------------------------------------------
    def take(self, read: Read) -> list[Entry]:
        """The entries the lookout alerted for this read, which the loop completes under the
        lookout's ids. Once the loop has taken a read the lookout no longer alerts it, and the note
        stays until it ages out: a loop that reads the partition again from its last commit (a
        rebalance) completes the same alerts, where it would have raised them under new ids."""
        watched = read.tp in self.started_at
        if not watched and not self._notes:
            return []
        with self._lock:
            if watched:
                self._loop_took[read.tp] = read.offset
            note = self._notes.get(read.read_id)
        return note[1] if note is not None else []

    # --- the thread ----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        check_s = self.settings.enrich_lookout_check_ms / 1000
        next_check = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_check:
                try:
                    self.check()
                except Exception as exc:  # the broker is away: the loop alerts as before
                    logger.warning("alert lookout: check failed (%s)", exc)
                next_check = time.monotonic() + check_s
            if not self.started_at:
                stop.wait(check_s)
                continue
            for msg in self.consumer.consume(num_messages=500, timeout=0.1):
                if msg.error() is None:
                    self.handle(msg)

    def check(self) -> None:
        """Start reading the partitions the loop lags on, stop those it has caught up with."""
        positions, times = _copied(self.loop_positions), _copied(self.loop_times)
        now = int(time.time() * 1000)
        owned = {tp: o for tp, o in positions.items() if tp[0] in self.topics}
        changed = False
        for tp in [tp for tp in self.started_at if tp not in owned]:
            del self.started_at[tp]  # revoked from the loop
            changed = True
        for tp, loop_next in owned.items():
            if tp in self.started_at:
                if loop_next >= self._position(tp):  # the loop has caught up with the lookout
                    del self.started_at[tp]
                    changed = True
                    logger.info("alert lookout: %s[%d] caught up, stopped", *tp)
                continue
            handled = times.get(tp)  # (when the loop handled its last record, when it was written)
            if handled is None or now - handled[0] > IDLE_MS:
                continue  # nothing to read there lately: not behind
            behind = handled[0] - handled[1]
            if behind <= self.settings.enrich_lookout_lag_ms:
                continue
            # the end as the broker reports it; the local broker's is the last batch's first
            # offset + 1 (after a large batch, far too early): the lookout then starts where the
            # loop is and overtakes it (it only decodes and matches), which costs CPU, not alerts
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(*tp), timeout=2.0, cached=False
            )
            self.started_at[tp] = max(high, loop_next)
            changed = True
            logger.info(
                "alert lookout: %s[%d] %d ms behind, reading ahead from %d",
                *tp,
                behind,
                self.started_at[tp],
            )
        if changed:
            self.consumer.assign([TopicPartition(t, p, o) for (t, p), o in self.started_at.items()])
        self._forget_old()

    def _position(self, tp: TopicPart) -> int:
        """The next offset the lookout reads on ``tp`` (where it began, before its first fetch)."""
        pos = self.consumer.position([TopicPartition(*tp)])[0].offset
        return pos if pos >= 0 else self.started_at[tp]

    def handle(self, msg: Message) -> None:
        """Alert on one read if it is a confident BOLO hit not alerted for its camera just now."""
        tp = (msg.topic() or "", msg.partition() or 0)
        if tp not in self.started_at or not self.watchlists.entries:
            return
        try:
            rec = self.serde.decode(msg.value())
            read = self._read(rec, tp, msg.offset() or 0)
            if read is None or read.confidence < self.settings.enrich_early_alert_confidence:
                return
            camera = self.cameras.get(read.camera_id)
            device = tp[0] == self.topics[1]
            if device and camera is not None and reads.device_zone_verdict(rec, camera.zones):
                return  # outside the camera's zones: the loop drops it too
            zone = camera.zone if camera is not None else None
            hits = self.watchlists.match(
                read.plate, ts=read.ts, camera_id=read.camera_id, zone=zone
            )
        except Exception:  # bad input is the loop's to dead-letter
            return
        alerted: list[Entry] = []
        for entry in hits:
            if entry.list_kind != "bolo":
                continue
            key = (read.camera_id, entry.entry_id)
            last = self._last.get(key)
            # every hit moves the mark, alerted or not: a vehicle read on and on (parked, queued)
            # is one passage to the loop, so one alert here
            self._last[key] = read.ts if last is None else max(last, read.ts)
            if last is not None and abs(read.ts - last) <= self.settings.enrich_gap_ms:
                continue
            alerted.append(entry)
        if not alerted:
            return
        with self._lock:  # the claim: the note first, so the loop completes what is sent next
            if read.offset <= self._loop_took.get(tp, -1):
                return  # the loop got there first: it alerts the passage itself
            self._notes[read.read_id] = (time.monotonic(), alerted)
        for entry in alerted:
            self.alert(entry, read)
            self.alerts += 1

    def _read(self, rec: dict[str, Any], tp: TopicPart, offset: int) -> Read | None:
        """A detector read or a device's (None: the device read no plate)."""
        if tp[0] == self.topics[0]:
            return reads.from_plate_read(rec, tp, offset)
        return reads.from_camera_event(
            rec, tp, offset, default_confidence=self.settings.enrich_device_confidence
        )

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - NOTE_TTL_S
        with self._lock:
            for rid in [r for r, (t, _) in self._notes.items() if t < cutoff]:
                del self._notes[rid]
        if len(self._last) > 100_000:
            self._last.clear()
