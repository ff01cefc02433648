"""What the sink's two S3 loops share: the S3 sink (images of records into the bucket) and the
image-retention loop (retention tags on them), each with its own consumer group."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Consumer, Producer
from minio import Minio

from platestream.dlq import DeadLetters
from platestream.serde import AvroSerde
from services.sink.settings import SinkSettings


class S3Loop:
    """A consumer whose records become object operations, run ``sink_s3_workers`` at a time
    (services/sink/batch.py retries them and commits after them)."""

    pool_name = "s3"

    def __init__(
        self,
        *,
        settings: SinkSettings,
        consumer: Consumer,
        s3: Minio,
        serde: AvroSerde,
        dead_letters: DeadLetters,
        producer: Producer,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.s3 = s3
        self.serde = serde
        self.dlq = dead_letters
        self.producer = producer
        self.stop = stop
        self.bucket = settings.s3_bucket
        self._pool = ThreadPoolExecutor(
            max_workers=settings.sink_s3_workers, thread_name_prefix=self.pool_name
        )
