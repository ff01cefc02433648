"""Does a consumer skip records across broker restarts (S3 engine)? Which client?

Private S3-engine stack on free ports, one 3-partition topic, an idempotent confluent producer
writing sequence numbers at ~20/s for the whole run, and four consumers in subprocesses, each
logging every (partition, offset) it receives:

  conf-follow / aio-follow    confluent-kafka / aiokafka, one member kept through every restart
  conf-restart / aio-restart  the same clients, SIGKILLed before each broker restart and started
                              again (same group, from its committed offsets) once the broker is up

The topic has no transactions and no compaction, so offsets are contiguous: a jump within a
member's stream, a first record above the committed offset, or an offset never received is a
skip. At the end every partition is read back from offset 0 (twice, ~40 s apart) and compared
with the producer's acknowledgements; a jump over an offset the log itself lacks (a hole) is
told apart from a skipped record that is present.

Found (tansu 0.6.0, S3 engine): no client skipped a record that is in the log, at 20/s or 45/s.
At 45/s a record produced while the broker was down was acked right after the restart without
an offset (the broker's DUPLICATE_SEQUENCE_NUMBER answer to a retry) and is not in the log, which
has a hole at its offset instead; every consumer, both clients, jumps that hole.

Run: .venv/bin/python docs/faults/restart_skip.py [--restarts N] [--gap S] [--rate R] [--batch B]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from platestream import topics as catalogue
from platestream.bench import harness
from platestream.kafka import consumer_config, create_topics, make_producer
from platestream.settings import CommonSettings
from platestream.stack.launcher import death_signal

PARTITIONS = 3
CONSUMERS = {  # name -> (client, kept through restarts)
    "conf-follow": ("confluent", True),
    "aio-follow": ("aiokafka", True),
    "conf-restart": ("confluent", False),
    "aio-restart": ("aiokafka", False),
}


# -- consumer subprocesses ---------------------------------------------------------------------
def _emitter(out: Any, session: int) -> Any:
    def emit(kind: str, partition: int, offset: int, value: str = "-") -> None:
        out.write(f"{session} {kind} {time.time():.3f} {partition} {offset} {value}\n")

    return emit


def run_confluent(bootstrap: str, topic: str, group: str, emit: Any) -> None:
    settings = CommonSettings(env="test").model_copy(update={"kafka_bootstrap": bootstrap})
    consumer = Consumer(consumer_config(settings, group))  # the project's consumer defaults

    def on_assign(c: Consumer, parts: list[TopicPartition]) -> None:
        for tp in c.committed(parts, timeout=10):
            emit("assign", tp.partition, tp.offset)

    consumer.subscribe([topic], on_assign=on_assign)
    while True:
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        emit("rec", msg.partition(), msg.offset(), (msg.value() or b"").decode())
        consumer.commit(message=msg, asynchronous=True)


async def run_aiokafka(bootstrap: str, topic: str, group: str, emit: Any) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
    from aiokafka.errors import KafkaError

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            pass

        async def on_partitions_assigned(self, assigned: Any) -> None:
            for tp in assigned:
                committed = await consumer.committed(tp)
                emit("assign", tp.partition, -1 if committed is None else committed)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    while True:
        try:
            await consumer.start()
            break
        except KafkaError:
            await asyncio.sleep(0.5)
    consumer.subscribe([topic], listener=Listener())
    while True:
        batches = await consumer.getmany(timeout_ms=500)
        for tp, msgs in batches.items():
            for m in msgs:
                emit("rec", tp.partition, m.offset, m.value.decode())
            try:
                await consumer.commit({tp: msgs[-1].offset + 1})
            except KafkaError as exc:
                emit("commit-error", tp.partition, msgs[-1].offset + 1, type(exc).__name__)


def consumer_main(args: argparse.Namespace) -> None:
    with open(args.out, "a", buffering=1) as out:  # one write a line: SIGKILL loses nothing
        emit = _emitter(out, args.session)
        if args.client == "confluent":
            run_confluent(args.bootstrap, args.topic, args.group, emit)
        else:
            asyncio.run(run_aiokafka(args.bootstrap, args.topic, args.group, emit))


# -- the run -----------------------------------------------------------------------------------
class Producer:
    """Sequence numbers round-robin over the partitions at ~rate/s; keeps every ack."""

    def __init__(self, settings: CommonSettings, topic: str, rate: float, batch: int):
        conf = {"linger.ms": 20, "message.timeout.ms": 120_000, "log_level": 2}
        if batch:  # records a produce batch at most: with 1, a backlog goes out as many requests
            conf["batch.num.messages"] = batch
        self.p = make_producer(settings, **conf)
        self.topic, self.period = topic, 1.0 / rate
        self.sent: dict[int, float] = {}
        # seq -> partition, offset, time; offset -1: acked without one (librdkafka reports a
        # DUPLICATE_SEQUENCE_NUMBER answer to a retry as delivered, offset unknown)
        self.acked: dict[int, tuple[int, int, float]] = {}
        self.failed: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _cb(self, err: Any, msg: Any) -> None:
        seq = int(msg.value())
        if err is None:
            offset = msg.offset()
            self.acked[seq] = (msg.partition(), -1 if offset is None else offset, time.time())
        else:
            self.failed.append((seq, str(err)))

    def _run(self) -> None:
        seq, nxt = 0, time.time()
        while not self.stop.is_set():
            self.sent[seq] = time.time()
            self.p.produce(
                self.topic, str(seq).encode(), partition=seq % PARTITIONS, on_delivery=self._cb
            )
            seq += 1
            nxt += self.period
            self.p.poll(0)  # poll(timeout) returns at the first ack: sleep to keep the rate
            time.sleep(max(0.0, nxt - time.time()))
        self.p.flush(60)


class Members:
    """The consumer subprocesses; they die with this process (PR_SET_PDEATHSIG)."""

    def __init__(self, bootstrap: str, topic: str, work: Path):
        self.bootstrap, self.topic, self.work = bootstrap, topic, work
        self.groups = {name: f"g-{name}-{uuid.uuid4().hex[:6]}" for name in CONSUMERS}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.sessions: dict[str, int] = defaultdict(int)

    def spawn(self, name: str) -> None:
        self.sessions[name] += 1
        argv = [
            sys.executable,
            __file__,
            "--consume",
            CONSUMERS[name][0],
            "--bootstrap",
            self.bootstrap,
        ]
        argv += [
            "--topic",
            self.topic,
            "--group",
            self.groups[name],
            "--session",
            str(self.sessions[name]),
        ]
        argv += ["--out", str(self.work / f"{name}.log")]
        with open(self.work / f"{name}.stderr", "ab") as err:
            self.procs[name] = subprocess.Popen(
                argv, stderr=err, stdout=err, preexec_fn=death_signal(signal.SIGKILL)
            )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.kill()
            proc.wait(10)

    def kill_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def log(self, name: str) -> list[tuple[int, str, float, int, int, str]]:
        path = self.work / f"{name}.log"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 6:
                rows.append(
                    (
                        int(parts[0]),
                        parts[1],
                        float(parts[2]),
                        int(parts[3]),
                        int(parts[4]),
                        parts[5],
                    )
                )
        return rows


def read_back(settings: CommonSettings, topic: str) -> dict[int, list[tuple[int, int]]]:
    """Every partition from offset 0: partition -> [(offset, seq)]."""
    conf = consumer_config(
        settings, f"rb-{uuid.uuid4().hex[:6]}", **{"isolation.level": "read_uncommitted"}
    )
    c = Consumer(conf)
    ends = {
        q: c.get_watermark_offsets(TopicPartition(topic, q), timeout=10)[1]
        for q in range(PARTITIONS)
    }
    c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in range(PARTITIONS)])
    got: dict[int, list[tuple[int, int]]] = defaultdict(list)
    deadline = time.time() + 60
    while time.time() < deadline and any(
        (got[q][-1][0] + 1 if got[q] else 0) < ends[q] for q in ends
    ):
        for m in c.consume(500, 1.0):
            q, off = m.partition(), m.offset()
            if not m.error() and q is not None and off is not None:
                got[q].append((off, int(m.value() or b"-1")))
    c.close()
    return got


def skips(
    rows: list[tuple[int, str, float, int, int, str]], ends: dict[int, int]
) -> dict[str, Any]:
    """Jumps within a member's stream, starts above the committed offset, offsets never received."""
    last: dict[tuple[int, int], int] = {}
    jumps: list[tuple[int, int, int, float]] = []  # partition, first missing, last missing, time
    received: dict[int, set[int]] = defaultdict(set)
    for session, kind, t, q, off, _ in rows:
        key = (session, q)
        if kind == "assign":
            if off >= 0:
                last[key] = off - 1
            continue
        if kind != "rec":
            continue
        received[q].add(off)
        if key in last and off > last[key] + 1:
            jumps.append((q, last[key] + 1, off - 1, t))
        last[key] = max(off, last.get(key, -1))
    never = {q: sorted(set(range(ends.get(q, 0))) - received[q]) for q in range(PARTITIONS)}
    count = sum(len(v) for v in received.values())
    return {"jumps": jumps, "never": {q: v for q, v in never.items() if v}, "received": count}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--gap", type=float, default=10.0, help="seconds between restarts")
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=0, help="batch.num.messages (0: default)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (consumer logs)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="restart-skip-"))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl+C
    members: Members | None = None
    try:
        with harness.private_stack(CommonSettings(env="test"), ephemeral=False) as (s, stack):
            topic = f"skip.{uuid.uuid4().hex[:6]}"
            spec = catalogue.Topic(topic, "plate_read", "seq", PARTITIONS, -1)
            create_topics(s.model_copy(update={"topic_prefix": ""}), [spec])
            prod = Producer(s, topic, args.rate, args.batch)
            members = Members(s.kafka_bootstrap, topic, work)
            t0 = time.time()
            prod.thread.start()
            for name in CONSUMERS:
                members.spawn(name)
            time.sleep(args.gap)
            restarts: list[tuple[float, float, float]] = []  # stop begun, stopped, ready again
            for i in range(args.restarts):
                for name, (_, kept) in CONSUMERS.items():
                    if not kept:
                        members.kill(name)
                time.sleep(1.0 if i % 2 == 0 else 7.0)  # members die 1 s or 7 s before the restart
                a = time.time()
                stack.stop("broker")
                b = time.time()
                stack.start("broker")
                c = time.time()
                restarts.append((a, b, c))
                print(
                    f"restart {i + 1}: stop {a - t0:6.1f}s, down {b - t0:6.1f}s, up {c - t0:6.1f}s",
                    flush=True,
                )
                for name, (_, kept) in CONSUMERS.items():
                    if not kept:
                        members.spawn(name)
                time.sleep(args.gap)
            prod.stop.set()
            prod.thread.join(90)
            back = read_back(s, topic)
            ends = {q: rows[-1][0] + 1 for q, rows in back.items() if rows}
            stop_at = time.time()
            while time.time() - stop_at < 30:  # let every member reach the end of the log
                done = all(
                    all(
                        any(
                            r[1] == "rec" and r[3] == q and r[4] == ends[q] - 1
                            for r in members.log(n)
                        )
                        for q in ends
                    )
                    for n in CONSUMERS
                )
                if done:
                    break
                time.sleep(1)
            members.kill_all()
            time.sleep(5)
            later = read_back(s, topic)  # does a hole of the first read-back fill in later?
            broker_log = [
                line
                for line in stack.log_tail("broker", 2000).splitlines()
                if " ERROR " in line or " WARN " in line
            ]
            report(t0, restarts, prod, back, later, members, broker_log)
    finally:
        if members is not None:
            members.kill_all()
        if args.keep:
            print("consumer logs kept in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(
    t0: float,
    restarts: list[tuple[float, float, float]],
    prod: Producer,
    back: dict[int, list[tuple[int, int]]],
    later: dict[int, list[tuple[int, int]]],
    members: Members,
    broker_log: list[str],
) -> None:
    present = {seq: (q, off) for q, rows in back.items() for off, seq in rows}
    at = {(q, off): seq for seq, (q, off) in present.items()}
    ends = {q: (rows[-1][0] + 1 if rows else 0) for q, rows in back.items()}
    holes = {q: sorted(set(range(ends[q])) - {o for o, _ in rows}) for q, rows in back.items()}
    dupes = sum(len(rows) for rows in back.values()) - len(present)
    no_offset = sorted(s for s, (_, off, _) in prod.acked.items() if off < 0)
    moved = [s for s, (q, o, _) in prod.acked.items() if o >= 0 and present.get(s) != (q, o)]
    lost = [s for s in prod.acked if s not in present]
    later_holes = {q: sorted(set(range(ends[q])) - {o for o, _ in later[q]}) for q in ends}

    def when(t: float) -> str:
        """The time of the run, and where it falls against the restarts."""
        for k, (stop, _, up) in enumerate(restarts, 1):
            if stop <= t <= up:
                return f"{t - t0:.1f}s (during restart {k}, {t - stop:.1f}s after its SIGTERM)"
        where = [
            f"{t - up:.1f}s after restart {k} up"
            for k, (_, _, up) in enumerate(restarts, 1)
            if up < t
        ][-1:]
        where += [
            f"{stop - t:.1f}s before restart {k}"
            for k, (stop, _, _) in enumerate(restarts, 1)
            if stop > t
        ][:1]
        return f"{t - t0:.1f}s ({', '.join(where)})"

    print(f"\nproduced {len(prod.sent)}, acked {len(prod.acked)}, failed {prod.failed[:5]}")
    print(
        f"  acked without an offset (duplicate-sequence answer): {len(no_offset)} {no_offset[:10]}"
    )
    print(f"present at the end {len(present)} (log ends {dict(sorted(ends.items()))})")
    print(f"  offset holes {holes} (read again at the end: {later_holes})")
    print(f"  duplicate seqs {dupes}, acked at another offset {moved[:10]}")
    print(f"  ACKED BUT ABSENT: {len(lost)}")
    for lost_seq in lost[:10]:
        q, _, acked_at = prod.acked[lost_seq]
        print(f"    seq {lost_seq} p{q}: sent {when(prod.sent[lost_seq])}, acked {when(acked_at)}")
    for name in CONSUMERS:
        rows = members.log(name)
        found = skips(rows, ends)
        sessions = len({r[0] for r in rows})
        print(
            f"{name}: {found['received']} records in {sessions} sessions, jumps {len(found['jumps'])}, never received {found['never']}"
        )
        for q, lo, hi, t in found["jumps"]:
            for off in range(lo, hi + 1):
                there = at.get((q, off))
                if there is None:
                    print(f"  p{q}@{off}: jumped over at {when(t)}; a hole, no record in the log")
                    continue
                sent, ack = when(prod.sent[there]), when(prod.acked.get(there, (0, 0, t0))[2])
                print(
                    f"  SKIPPED p{q}@{off} (seq {there}, present in the log) at {when(t)}; sent {sent}, acked {ack}"
                )
    if lost or any(holes.values()) or broker_log:
        print(f"broker log, WARN/ERROR lines ({len(broker_log)}), last 15:")
        for line in broker_log[-15:]:
            print("  ", line[:300])


if __name__ == "__main__":
    if "--consume" in sys.argv:
        cp = argparse.ArgumentParser()
        for flag in ("--consume", "--bootstrap", "--topic", "--group", "--out"):
            cp.add_argument(flag, required=True)
        cp.add_argument("--session", type=int, required=True)
        ns = cp.parse_args()
        ns.client = ns.consume
        consumer_main(ns)
    else:
        sys.exit(main())
