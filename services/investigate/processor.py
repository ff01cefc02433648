"""The live clone detector: plate events in, anomalies (cloned or misread plates) out.

A batch loop like enrich's (platestream/batchloop.py): per-record framework overhead decides at
tens of thousands of events/s. One loop owns the detector's memory and the camera table (followed
from the compacted cameras topic), so no locks.

Plate events are keyed by camera, so one plate's passages spread over every partition: the
detector must see all of them, i.e. one process consumes the whole topic (its consumer group has
one member; a second member would split plates and miss pairs). Scaling out would need a topic
re-keyed by folded plate first; docs/investigations.md has the figures that make one process
enough.

Offsets are committed after the producer has flushed every anomaly emitted so far, and skipped
offset ranges are read back first (platestream/commits.py, shared with enrich). The memory of
sightings is not rebuilt after a restart: a pair whose first sighting came before the restart is
missed (docs/investigations.md, limits). Anomaly ids are deterministic, so a re-read re-emits
duplicates that the sink collapses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer

from platestream import topics as catalogue
from platestream.batchloop import BatchLoop, Counters
from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError
from platestream.serde import AvroSerde
from platestream.state import StateFollower
from platestream.timeutil import now_ms
from services.enrich.enrichment import Cameras
from services.investigate.clones import CloneDetector
from services.investigate.records import PlateEventDecoder, anomaly_record, sighting
from services.investigate.settings import AnomalySettings

logger = logging.getLogger(__name__)

EXPIRE_INTERVAL_MS = 10_000


class Stats(Counters):
    """Counters the processor keeps (no plate text)."""

    __slots__ = (
        "batches",
        "clones",
        "corrections",
        "dead_letters",
        "events",
        "misreads",
        "no_position",
    )
    batches: int
    clones: int
    corrections: int
    dead_letters: int
    events: int
    misreads: int
    no_position: int


class AnomalyProcessor(BatchLoop):
    """Consumes plate events; produces anomalies to anpr.anomalies.v1."""

    def __init__(
        self,
        *,
        settings: AnomalySettings,
        consumer: Consumer,
        producer: Producer,
        serde: AvroSerde,
        state: StateFollower | None = None,
        cameras: Cameras | None = None,
        dead_letters: DeadLetters | None = None,
        read_back: Callable[[str, int, range], list[Message]] | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        super().__init__(
            consumer=consumer,
            producer=producer,
            state=state,
            batch_size=settings.anomaly_batch_size,
            poll_timeout_s=settings.anomaly_poll_timeout_s,
            state_timeout_s=settings.anomaly_state_timeout_s,
            read_back=read_back,
            clock=clock,
        )
        self.settings = settings
        self._serde = serde
        self.cameras = cameras if cameras is not None else Cameras()
        self._dlq = dead_letters or DeadLetters(
            stage="anomalies", producer=producer, serde=serde, settings=settings
        )
        self.detector = CloneDetector(settings.clone_config())
        self.stats = Stats()
        self.events_topic = settings.topic(catalogue.PLATE_EVENTS.name)
        self.anomalies_topic = settings.topic(catalogue.ANOMALIES.name)
        self._subject = f"{self.anomalies_topic}-value"
        self._decoder = PlateEventDecoder(serde, f"{self.events_topic}-value")
        self._limit = settings.anomaly_max_speed_kmh
        self._last_expire = 0
        self._max_ts = 0

    def input_topics(self) -> list[str]:
        return [self.events_topic]

    def started(self) -> None:
        if self._state is not None:
            logger.info("loaded %d cameras", len(self.cameras.by_id))

    def housekeeping(self, now: int) -> None:
        if now - self._last_expire >= EXPIRE_INTERVAL_MS:
            self._last_expire = now
            self.detector.expire(self._max_ts)

    def process(self, msgs: list[Message]) -> None:
        """Handle one batch of consumed plate events (no commit)."""
        self.stats.batches += 1
        decode, check, cameras = self._decoder.decode, self.detector.check, self.cameras.by_id
        for msg in self.offsets.see(msgs):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    logger.warning("consume error: %s", err)
                continue
            try:
                rec = decode(msg.value())
                if rec["version"] != 0:
                    self.stats.corrections += 1  # corrections change the text, not the passage
                    continue
                s = sighting(rec, cameras.get(rec["camera_id"]))
            except (SerdeError, BadInputError, KeyError, TypeError, ValueError) as exc:
                logger.warning(
                    "dead-lettered %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), exc
                )
                self._dlq.record(msg, exc)
                self.stats.dead_letters += 1
                continue
            self.stats.events += 1
            if s is None:
                self.stats.no_position += 1
                continue
            if s.ts > self._max_ts:
                self._max_ts = s.ts
            findings = check(s)
            if findings:
                logged = msg.timestamp()[1]
                for f in findings:
                    self._emit(
                        anomaly_record(
                            f,
                            limit_kmh=self._limit,
                            emitted_at=self._clock(),
                            event_logged_at=logged if logged > 0 else None,
                        )
                    )

    def _emit(self, rec: dict[str, Any]) -> None:
        payload = self._serde.encode("plate_anomaly", rec, subject=self._subject)
        self._producer.produce(
            self.anomalies_topic,
            key=rec["camera_id"].encode(),
            value=payload,
            on_delivery=self.offsets.on_delivery,
        )
        self._producer.poll(0)
        if rec["kind"] == "clone":
            self.stats.clones += 1
        else:
            self.stats.misreads += 1
