"""The enrich hot path: reads in, passages deduplicated, watchlists matched, events enriched out.

A confluent-kafka batch processor (platestream/batchloop.py, ``consume(num_messages=N)``): at the
rates the pipeline needs (tens of thousands of reads/s in one process) per-message framework
overhead decides, see docs/enrich.md for the figures. One loop owns all state (open passages, holds, watchlists,
cameras, recent events), so no locks.

Offsets: a partition's offset is committed only up to the oldest read of a still-open passage,
after the producer has flushed everything emitted so far. A restarted processor re-reads those
reads and rebuilds its open passages; event and alert ids are deterministic, so a re-emission is a
duplicate the sinks drop. Once a produced record has failed, nothing is committed again by this
process (not on revoke, not on exit): its output may be missing, so its input must be re-read.

Gaps: the input topics are neither compacted nor transactional, so a partition's offsets are
contiguous. A consumed offset past the one expected means this member was not given some records
(seen on the local broker after a restart, docs/faults.md); they are read back and handled first.
Both rules live in platestream/commits.py (``OffsetBook``), shared with the investigate stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer

from platestream import topics as catalogue
from platestream.batchloop import BatchLoop, Counters
from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError
from platestream.privacy.shredding import Shredded
from platestream.runtime import freeze_long_lived
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.enrich import reads
from services.enrich.alerts import AlertOut
from services.enrich.bolo import Entry, Watchlists, access_status
from services.enrich.corrections import RecentEvents, corrected, latest_event
from services.enrich.dedup import DedupConfig, PassageTracker
from services.enrich.enrichment import Cameras, event_record
from services.enrich.lookout import AlertLookout
from services.enrich.passage import Passage, Read
from services.enrich.settings import EnrichSettings
from services.enrich.state import StateFollower

logger = logging.getLogger(__name__)

# Housekeeping runs on a clock, not after every consume: at live rates a consume returns a few
# dozen records, and scanning every open passage (closing, committable offsets) after each one
# cost more CPU than the reads themselves (py-spy, 2,000 reads/s over 2,000 camera lanes).
CLOSE_INTERVAL_MS = 100  # passages close at most this late after their due time
# Flush and commit once a second, not every 250 ms: ``committable`` scans every open passage (at
# 2,000 reads/s over 1,000 cameras about 6,000 of them), 7 % of enrich's CPU at four scans a second
# (docs/benchmarks.md, issue 18). Offsets are held back to the oldest open passage's read (3 s or
# more) anyway, so a restart re-reads at most a second more; the producer sends on its own
# (linger.ms), so no record waits for the flush.
COMMIT_INTERVAL_MS = 1000
HOLD_EXPIRY_INTERVAL_MS = 10_000  # holds past their hold-off are memory only (_held checks time)


class Stats(Counters):
    """Counters the processor keeps (exported as metrics by the CLI)."""

    __slots__ = (
        "absorbed",
        "alerts",
        "batches",
        "corrections",
        "dead_letters",
        "events",
        "gap_reads",
        "gaps",
        "outside_zones",
        "reads",
        "skipped",
    )
    absorbed: int
    alerts: int
    batches: int
    corrections: int
    dead_letters: int
    events: int
    gap_reads: int
    gaps: int
    outside_zones: int
    reads: int
    skipped: int


class EnrichProcessor(BatchLoop):
    """Consumes reads, camera events and corrections; produces plate events and alerts."""

    def __init__(
        self,
        *,
        settings: EnrichSettings,
        consumer: Consumer,
        producer: Producer,
        serde: AvroSerde,
        state: StateFollower | None = None,
        watchlists: Watchlists | None = None,
        cameras: Cameras | None = None,
        dead_letters: DeadLetters | None = None,
        fetch_event: Callable[[int, int], dict[str, Any] | None] | None = None,
        read_back: Callable[[str, int, range], list[Message]] | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        super().__init__(
            consumer=consumer,
            producer=producer,
            state=state,
            batch_size=settings.enrich_batch_size,
            poll_timeout_s=settings.enrich_poll_timeout_s,
            state_timeout_s=settings.enrich_state_timeout_s,
            read_back=read_back,
            clock=clock,
            commit_interval_ms=COMMIT_INTERVAL_MS,
        )
        self.settings = settings
        self._serde = serde
        self.watchlists = watchlists if watchlists is not None else Watchlists()
        self.cameras = cameras if cameras is not None else Cameras()
        self._dlq = dead_letters or DeadLetters(
            stage="enrich", producer=producer, serde=serde, settings=settings
        )
        self._fetch_event = fetch_event
        self.tracker = PassageTracker(
            DedupConfig(
                max_distance=settings.enrich_max_distance,
                gap_ms=settings.enrich_gap_ms,
                idle_close_ms=settings.enrich_idle_close_ms,
                max_passage_ms=settings.enrich_max_passage_ms,
                holdoff_ms=settings.enrich_holdoff_ms,
            )
        )
        self.recent = RecentEvents(settings.enrich_recent_events)
        self.stats = Stats()
        t = settings.topic
        self.reads_topic = t(catalogue.PLATE_READS.name)
        self.camera_events_topic = t(catalogue.CAMERA_EVENTS.name)
        self.corrections_topic = t(catalogue.CORRECTIONS.name)
        self.bolo_topic = t(catalogue.BOLO.name)
        self.cameras_topic = t(catalogue.CAMERAS.name)
        self.events_topic = t(catalogue.PLATE_EVENTS.name)
        self.alerts_topic = t(catalogue.ALERTS.name)
        self._event_subject = f"{self.events_topic}-value"
        self._early = settings.enrich_early_alert_confidence
        self._last_hold_expiry = 0
        self._last_close = 0
        self.lookout: AlertLookout | None = None  # set by the CLI (services/enrich/lookout.py)
        # partition -> (when the loop handled its last record, when that record was written)
        self.handled: dict[tuple[str, int], tuple[int, int]] = {}
        self.alerts_out = AlertOut(
            producer=producer,
            serde=serde,
            topic=self.alerts_topic,
            cameras=self.cameras,
            clock=clock,
            on_delivery=self.offsets.on_delivery,
        )

    # --- wiring ---------------------------------------------------------------------------------
    def input_topics(self) -> list[str]:
        return [self.reads_topic, self.camera_events_topic, self.corrections_topic]

    def started(self) -> None:
        if self._state is not None:
            logger.info(
                "loaded %d watchlist entries and %d cameras",
                len(self.watchlists),
                len(self.cameras.by_id),
            )
        logger.info("froze %d long-lived objects", freeze_long_lived())

    def housekeeping(self, now: int) -> None:
        if now - self._last_close >= CLOSE_INTERVAL_MS:
            self._last_close = now
            self.close_due()

    # --- input ----------------------------------------------------------------------------------
    def process(self, msgs: list[Message]) -> None:
        """Handle one batch of consumed records (no commit), records skipped before them first."""
        wall = self._clock()
        self.stats.batches += 1
        for msg in self.offsets.see(msgs):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    logger.warning("consume error: %s", err)
                continue
            topic: str = msg.topic()  # type: ignore[assignment]  # set on consumed records
            offset: int = msg.offset()  # type: ignore[assignment]
            tp = (topic, msg.partition() or 0)
            self.handled[tp] = (wall, msg.timestamp()[1])  # how far behind the loop is (lookout.py)
            self._handle(msg, tp, offset, wall)
        self.stats.gaps, self.stats.gap_reads = self.offsets.gaps, self.offsets.gap_reads

    def _handle(self, msg: Message, tp: tuple[str, int], offset: int, wall: int) -> None:
        """Decode one record and add its read (or apply its correction); bad input dead-lettered."""
        topic = tp[0]
        try:
            rec = self._serde.decode(msg.value())
            if topic == self.reads_topic:
                read: Read | None = reads.from_plate_read(rec, tp, offset)
            elif topic == self.camera_events_topic:
                read = reads.from_camera_event(
                    rec, tp, offset, default_confidence=self.settings.enrich_device_confidence
                )
                camera = self.cameras.get(read.camera_id) if read is not None else None
                if camera is not None and reads.device_zone_verdict(rec, camera.zones):
                    self.stats.outside_zones += 1  # the camera's ROI/exclusion zones drop it
                    return
            else:
                self._correction(rec)
                return
        except Shredded:  # its plate was erased (crypto-shredding): nothing to read
            self.stats.skipped += 1
            return
        except (SerdeError, BadInputError, KeyError, TypeError, ValueError) as exc:
            self._dlq.record(msg, exc)
            self.stats.dead_letters += 1
            return
        if read is None:
            self.stats.skipped += 1
            return
        self.stats.reads += 1
        self.add_read(read, wall)

    def add_read(self, read: Read, wall: int) -> None:
        # taken before the tracker: a read it absorbs is the loop's too (lookout.py)
        early = self.lookout.take(read) if self.lookout is not None else ()
        passage, _opened = self.tracker.add(read, wall)
        if passage is None:
            self.stats.absorbed += 1
            return
        for entry in early:  # alerted already by the lookout: complete it
            self._alert_early(passage, entry, read)
        if (
            read.confidence >= self._early
            and self.watchlists.entries
            and read.plate not in passage.early_checked
        ):
            # Each plate text is matched once per passage: a vehicle read 10 times gives 10 reads
            # of mostly one text. A list change in mid-passage is still matched when it closes.
            passage.early_checked.add(read.plate)
            camera = self.cameras.get(read.camera_id)
            hits = self.watchlists.match(
                read.plate,
                ts=read.ts,
                camera_id=read.camera_id,
                zone=camera.zone if camera is not None else None,
            )
            for entry in hits:
                if entry.list_kind == "bolo":
                    self._alert_early(passage, entry, read)

    def _alert_early(self, passage: Passage, entry: Entry, read: Read) -> None:
        """Alert on ``read`` before its passage closes, once per entry per passage, under the id
        the lookout gives it too (``early_alert_id``)."""
        if entry.entry_id not in passage.alerted:
            passage.alerted.add(entry.entry_id)
            self._alert(
                entry,
                passage.event_id,
                read,
                read.plate,
                read.confidence,
                True,
                read.received_at,
            )

    def close_due(self) -> int:
        """Emit every passage that is due (gap passed in event time, idle, or too long)."""
        wall = self._clock()
        due = self.tracker.due(wall)
        for p in due:
            self.emit(p)
        if wall - self._last_hold_expiry >= HOLD_EXPIRY_INTERVAL_MS:
            self.tracker.expire_holds()
            self._last_hold_expiry = wall
        return len(due)

    def emit(self, passage: Passage) -> dict[str, Any]:
        plate, confidence = passage.consensus()
        best = passage.best
        camera = self.cameras.get(best.camera_id)
        zone = camera.zone if camera is not None else None
        hits = (
            self.watchlists.match(plate, ts=best.ts, camera_id=best.camera_id, zone=zone)
            if self.watchlists.entries
            else []
        )
        hit_ids = [e.entry_id for e in hits]
        status = access_status(hits)
        for eid in passage.alerted:  # early alerts on a read whose plate lost the vote still count
            if eid not in hit_ids:
                hit_ids.append(eid)
                status = "watchlisted"
        now = self._clock()
        event = event_record(
            passage,
            plate=plate,
            confidence=confidence,
            camera=camera,
            hits=hit_ids,
            status=status,
            emitted_at=now,
        )
        self.recent.put(event["event_id"], 0, self._produce_event(event))
        for entry in hits:
            if entry.list_kind == "bolo" and entry.entry_id not in passage.alerted:
                passage.alerted.add(entry.entry_id)
                self._alert(
                    entry, passage.event_id, best, plate, confidence, False, passage.received_at
                )
        self.tracker.hold(passage, plate)
        return event

    # --- corrections ----------------------------------------------------------------------------
    def _correction(self, rec: dict[str, Any]) -> None:
        event_id = rec["event_id"]
        event = latest_event(self.recent, rec, self._fetch_event, self._serde.decode)
        out = corrected(event, rec, emitted_at=self._clock())
        camera = self.cameras.get(out["camera_id"])
        hits = self.watchlists.match(
            out["plate"],
            ts=out["ts"],
            camera_id=out["camera_id"],
            zone=camera.zone if camera is not None else None,
        )
        out["watchlist_hits"] = [e.entry_id for e in hits]
        out["access_status"] = access_status(hits)
        self.recent.put(event_id, out["version"], self._produce_event(out))
        self.stats.corrections += 1
        best = Read(
            read_id=out["best_read_id"],
            camera_id=out["camera_id"],
            lane=out.get("lane"),
            ts=out["ts"],
            plate=out["plate"],
            confidence=out["confidence"],
            crop=out.get("best_crop"),
        )
        for entry in hits:
            if entry.list_kind == "bolo":
                self._alert(
                    entry,
                    event_id,
                    best,
                    out["plate"],
                    out["confidence"],
                    False,
                    out.get("received_at"),
                )

    # --- output ---------------------------------------------------------------------------------
    def _produce_event(self, event: dict[str, Any]) -> bytes:
        payload = self._serde.encode("plate_event", event, subject=self._event_subject)
        self._producer.produce(
            self.events_topic,
            key=event["camera_id"].encode(),
            value=payload,
            on_delivery=self.offsets.on_delivery,
        )
        self.stats.events += 1
        return payload

    def _alert(self, entry: Entry, event_id: str, read: Read, *args: Any, **kw: Any) -> None:
        self.alerts_out.emit(entry, event_id, read, *args, **kw)
        self._producer.poll(0)
        self.stats.alerts += 1

    def committable(self) -> dict[tuple[str, int], int]:
        """Per partition: the next offset to process, held back to the oldest open passage's read."""
        held = self.tracker.min_open_offsets()
        out = {}
        for tp, nxt in self.offsets.next_offsets().items():
            h = held.get(tp)
            out[tp] = nxt if h is None or h >= nxt else h
        return out

    def revoked(self, tps: set[tuple[str, int]]) -> None:
        dropped = self.tracker.drop_partitions(tps)
        logger.info(
            "revoked %d partitions; %d open passages left to their next owner", len(tps), dropped
        )


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until true or timeout (helper for tools and tests)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
