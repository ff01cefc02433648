"""Acked records across a broker restart (S3 engine): are they all readable afterwards?"""
import threading, time, uuid
from platestream.bench import harness
from platestream.settings import CommonSettings
from platestream.kafka import make_producer, make_consumer, create_topics
from platestream import topics as catalogue
from confluent_kafka import TopicPartition, OFFSET_BEGINNING

with harness.private_stack(CommonSettings(env="test"), ephemeral=False) as (s, stack):
    name = f"restart.{uuid.uuid4().hex[:6]}"
    create_topics(s.model_copy(update={"topic_prefix": ""}), [catalogue.Topic(name, "plate_read", "k", 2, 3600_000)])
    p = make_producer(s, **{"linger.ms": 0, "message.timeout.ms": 30000})
    acked = {}; failed = []
    def cb(err, msg):
        if err is None: acked[msg.value().decode()] = (msg.partition(), msg.offset())
        else: failed.append((msg.value().decode(), str(err)))
    stop = threading.Event()
    def run():
        i = 0
        while not stop.is_set():
            p.produce(name, key=str(i % 4).encode(), value=f"r{i}".encode(), on_delivery=cb); i += 1
            p.poll(0.05)
        p.flush(30)
    t = threading.Thread(target=run); t.start()
    time.sleep(5); stack.stop("broker"); stack.start("broker"); time.sleep(8); stop.set(); t.join(60)
    print("acked", len(acked), "failed", len(failed), failed[:2])
    c = make_consumer(s, f"g-{uuid.uuid4().hex[:6]}")
    c.assign([TopicPartition(name, q, OFFSET_BEGINNING) for q in range(2)])
    seen = set(); t0 = time.time(); idle = time.time()
    while time.time() - t0 < 120 and time.time() - idle < 15 and len(seen) < len(acked):
        b = c.consume(500, 1.0)
        if b: idle = time.time()
        seen.update(m.value().decode() for m in b if not m.error())
    missing = sorted(set(acked) - seen, key=lambda v: int(v[1:]))
    print("read back", len(seen), "missing", len(missing), [(m, acked[m]) for m in missing[:10]])
