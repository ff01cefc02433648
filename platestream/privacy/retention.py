"""Retention report: per store, the oldest record against the retention policy that store has.

It reads what is configured, it changes nothing: each Kafka topic's ``retention.ms`` and
``cleanup.policy`` (described by the broker) and the timestamp of its first record; each ClickHouse
table's TTL expression (from ``system.tables``) and the expiry of its oldest row (the TTL expression
evaluated over that row's column: merges apply TTLs lazily, so an overdue row shows up here); the
bucket's lifecycle rules and the oldest object each governs (tag rules read objects' tags). A
store with no policy, or whose oldest record is past its policy, is flagged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
# Storage-less engines: views and materialized views with TO keep no rows of their own.
NO_STORAGE = {"View", "MaterializedView", "Null", "Distributed", "Merge"}
_TTL = re.compile(r"\sTTL\s+(.+?)(?:\s+SETTINGS\s|$)", re.S)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TIME_COLUMNS = ("inserted_at", "ts", "updated_at", "created_at", "emitted_at")


@dataclass
class StoreReport:
    """One line of the report."""

    store: str  # kafka | clickhouse | s3
    name: str
    policy: str | None  # human-readable policy, None when there is none
    oldest_ms: int | None  # oldest record's time (epoch ms), None when empty or unknown
    expires_ms: int | None  # when the oldest record is due to go under the policy
    records: int | None = None
    flag: str = ""  # "", "no policy", "past policy", or what could not be read

    def view(self) -> dict[str, Any]:
        return asdict(self)


def _flag(policy: str | None, oldest: int | None, expires: int | None, now: int) -> str:
    if policy is None:
        return "no policy"
    if oldest is not None and expires is not None and expires <= now:
        return "past policy"
    return ""


# ---- Kafka -----------------------------------------------------------------------------------
def kafka_reports(
    settings: Any, *, timeout_s: float = 10.0, now: int | None = None
) -> list[StoreReport]:
    """Every catalogue topic: retention.ms / cleanup.policy and its first record's timestamp."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    from platestream import topics as catalogue
    from platestream.kafka import make_admin

    admin = make_admin(settings)
    present = admin.list_topics(timeout=timeout_s).topics
    names = [settings.topic(t.name) for t in catalogue.ALL if settings.topic(t.name) in present]
    configs: dict[str, dict[str, str]] = {}
    if names:
        futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names])
        for res, fut in futures.items():
            try:
                configs[res.name] = {k: str(v.value) for k, v in fut.result(timeout_s).items()}
            except Exception as exc:  # a broker that cannot describe one topic: say so
                logger.warning("retention report: %s not described: %s", res.name, exc)
    now = now_ms() if now is None else now
    oldest = _first_timestamps(settings, {n: list(present[n].partitions) for n in names}, timeout_s)
    out = []
    for name in names:
        conf = configs.get(name, {})
        retention = int(conf.get("retention.ms", "-1") or -1)
        if "compact" in conf.get("cleanup.policy", ""):
            policy = None  # the latest value per key is kept for ever
            label = "compacted: latest value per key kept without limit"
        elif retention >= 0:
            policy = label = f"retention.ms={retention} ({retention / DAY_MS:g} days)"
        else:
            policy, label = None, "retention.ms=-1 (kept for ever)"
        first = oldest.get(name)
        expires = first + retention if (first is not None and policy) else None
        report = StoreReport("kafka", name, label, first, expires)
        report.flag = _flag(policy, first, expires, now)
        out.append(report)
    return out


def _first_timestamps(
    settings: Any, partitions: dict[str, list[int]], timeout_s: float
) -> dict[str, int]:
    """Topic -> timestamp of the earliest first record of its partitions, read from the
    beginning of every partition at once; a partition that says nothing within the time is empty."""
    import time

    from confluent_kafka import KafkaError, TopicPartition

    from platestream.kafka import make_consumer

    wanted = {(t, p) for t, parts in partitions.items() for p in parts}
    if not wanted:
        return {}
    consumer = make_consumer(
        settings, "platestream-retention-report", **{"enable.partition.eof": True}
    )
    oldest: dict[str, int] = {}
    try:
        consumer.assign([TopicPartition(t, p, -2) for t, p in wanted])  # -2: the beginning
        deadline = time.monotonic() + timeout_s
        while wanted and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.25):
                err = msg.error()
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    continue
                where = (str(msg.topic()), int(msg.partition() or 0))
                if where not in wanted:
                    continue  # a later record of a partition already seen
                wanted.discard(where)
                if err is None:
                    ts = int(msg.timestamp()[1])
                    oldest[where[0]] = min(ts, oldest.get(where[0], ts))
    finally:
        consumer.close()
    return oldest


# ---- ClickHouse -----------------------------------------------------------------------------
_ACTION = re.compile(r"\s+(?:DELETE|WHERE|TO\s+DISK|TO\s+VOLUME|RECOMPRESS|GROUP\s+BY)\b")


def ttl_rules(create_query: str) -> list[tuple[str, str | None]]:
    """Every TTL rule of a CREATE TABLE statement: (time expression, WHERE condition or None)."""
    m = _TTL.search(create_query)
    if not m:
        return []
    text, depth, start, parts = m.group(1), 0, 0, []
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    rules: list[tuple[str, str | None]] = []
    for part in parts:
        expr = _ACTION.split(part.strip())[0].strip()
        where = re.search(r"\sWHERE\s+(.+)$", part.strip(), re.S)
        if expr:
            rules.append((expr, where.group(1).strip() if where else None))
    return rules


def ttl_expression(create_query: str) -> str | None:
    """The first TTL rule of a CREATE TABLE statement, without its action, or None."""
    rules = ttl_rules(create_query)
    return rules[0][0] if rules else None


def _expiry_sql(rules: list[tuple[str, str | None]]) -> str:
    """One column per rule: the earliest expiry over the rows its WHERE selects (NULL: none)."""
    return ", ".join(
        f"toUnixTimestamp64Milli(toDateTime64(minOrNull({e}), 3, 'UTC'))"
        if w is None
        else f"toUnixTimestamp64Milli(toDateTime64(minIfOrNull({e}, {w}), 3, 'UTC'))"
        for e, w in rules
    )


def clickhouse_reports(client: Any, *, now: int | None = None) -> list[StoreReport]:
    """Every table of the current database: its TTL and the expiry of its oldest row."""
    tables = client.query(
        "SELECT name, engine, create_table_query, total_rows FROM system.tables "
        "WHERE database = currentDatabase() ORDER BY name"
    ).result_rows
    columns: dict[str, dict[str, str]] = {}
    for table, col, typ in client.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"
    ).result_rows:
        columns.setdefault(str(table), {})[str(col)] = str(typ)
    now = now_ms() if now is None else now
    out = []
    for name, engine, create, total in tables:
        if engine in NO_STORAGE or str(name).startswith(".") or name == "schema_migrations":
            continue
        ttl = ttl_expression(str(create))
        cols = columns.get(str(name), {})
        column = None
        if ttl is not None:  # the time column the TTL counts from
            column = next((c for c in _IDENT.findall(ttl) if "DateTime" in cols.get(c, "")), None)
        if column is None:
            column = next((c for c in TIME_COLUMNS if "DateTime" in cols.get(c, "")), None)
        rules = ttl_rules(str(create))
        policy = (
            ttl if len(rules) < 2 else "; ".join(e + (f" WHERE {w}" if w else "") for e, w in rules)
        )
        report = StoreReport("clickhouse", str(name), policy, None, None, int(total or 0))
        if column is not None:
            # an aggregate state (first/last seen) is read as the time it holds
            value = f"`{column}`"
            if cols[column].startswith("AggregateFunction"):
                value = f"finalizeAggregation({value})"
            select = f"toUnixTimestamp64Milli(toDateTime64(min({value}), 3, 'UTC'))"
            if ttl is not None:
                select += ", " + _expiry_sql(rules)
            try:
                row = client.query(f"SELECT {select}, count() FROM `{name}`").result_rows[0]
            except Exception as exc:  # an expression this engine cannot evaluate: say so
                report.flag = f"unreadable: {type(exc).__name__}"
                out.append(report)
                continue
            count = int(row[-1])
            report.records = count
            if count:
                report.oldest_ms = int(row[0])
                expiries = [int(v) for v in row[1:-1] if v is not None]
                report.expires_ms = min(expiries) if ttl is not None and expiries else None
        report.flag = report.flag or _flag(ttl, report.oldest_ms, report.expires_ms, now)
        if report.flag == "no policy" and column is None and report.records:
            report.flag = "no policy (no time column)"
        out.append(report)
    return out


# ---- S3 --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _S3Rule:
    prefix: str
    tag: tuple[str, str] | None  # (key, value) the rule selects, None for a prefix-only rule
    days: int

    def applies(self, name: str, tags: dict[str, str]) -> bool:
        if not name.startswith(self.prefix):
            return False
        return self.tag is None or tags.get(self.tag[0]) == self.tag[1]

    @property
    def label(self) -> str:
        return f"tag {self.tag[0]}={self.tag[1]}" if self.tag else f"prefix {self.prefix!r}"


def _s3_rules(s3: Any, bucket: str) -> tuple[list[_S3Rule], str]:
    try:
        config = s3.get_bucket_lifecycle(bucket)
    except Exception as exc:  # no configuration answers an error in S3
        if "NoSuchLifecycleConfiguration" in str(exc):
            return [], ""
        return [], f"lifecycle unreadable: {type(exc).__name__}"
    rules = []
    for rule in getattr(config, "rules", None) or []:
        days = getattr(getattr(rule, "expiration", None), "days", None)
        if getattr(rule, "status", "Enabled") != "Enabled" or not days:
            continue
        flt = getattr(rule, "rule_filter", None)
        tag = getattr(flt, "tag", None)
        pair = (str(tag.key), str(tag.value)) if tag is not None else None
        rules.append(_S3Rule(getattr(flt, "prefix", None) or "", pair, int(days)))
    return rules, ""


def s3_reports(
    s3: Any,
    bucket: str,
    *,
    max_objects: int = 200_000,
    max_tag_reads: int = 20_000,
    now: int | None = None,
) -> list[StoreReport]:
    """The bucket's expiry rules and, per rule, the oldest object it governs (and those under none).

    Where rules overlap, the one that expires an object first governs it, as S3 and MinIO apply
    them. Tag-filtered rules (retention by purpose: ``retention=short`` / ``retention=hit``) need
    each object's tags, one request per object: they are read for the ``max_tag_reads`` oldest
    objects (the flag says when that sampled), the rest counted as untagged.
    """
    rules, flag = _s3_rules(s3, bucket)
    objects: list[tuple[int | None, str]] = []
    for seen, obj in enumerate(s3.list_objects(bucket, recursive=True)):
        if seen >= max_objects:
            flag = flag or f"sampled the first {max_objects} objects"
            break
        modified = int(obj.last_modified.timestamp() * 1000) if obj.last_modified else None
        objects.append((modified, str(obj.object_name)))
    by_tags = any(r.tag is not None for r in rules)
    if by_tags:
        objects.sort(key=lambda o: (o[0] is None, o[0] or 0))
        if len(objects) > max_tag_reads:
            flag = flag or f"tags read for the oldest {max_tag_reads} objects"
    oldest: dict[_S3Rule | None, int] = {}
    counted: dict[_S3Rule | None, int] = {}
    for i, (modified, name) in enumerate(objects):
        tags: dict[str, str] = {}
        if by_tags and i < max_tag_reads:
            try:
                tags = dict(s3.get_object_tags(bucket, name) or {})
            except Exception as exc:  # gone since the listing, or unreadable: counted untagged
                logger.debug("retention report: tags of %s: %s", name, exc)
        # the rule that expires the object first governs it (None: no rule)
        match = min((r for r in rules if r.applies(name, tags)), key=lambda r: r.days, default=None)
        counted[match] = counted.get(match, 0) + 1
        if modified is not None and (match not in oldest or modified < oldest[match]):
            oldest[match] = modified
    now = now_ms() if now is None else now
    out = []
    for rule in rules:
        first = oldest.get(rule)
        expires = first + rule.days * DAY_MS if first is not None else None
        policy = f"lifecycle: expire after {rule.days} days ({rule.label})"
        where = f"{bucket}/{rule.prefix}" + (f" [{rule.tag[0]}={rule.tag[1]}]" if rule.tag else "")
        report = StoreReport("s3", where, policy, first, expires, counted.get(rule, 0))
        report.flag = flag or _flag(policy, first, expires, now)
        out.append(report)
    if None in counted or not rules:
        report = StoreReport(
            "s3", f"{bucket} (no rule)", None, oldest.get(None), None, counted.get(None, 0)
        )
        report.flag = flag or "no policy"
        out.append(report)
    return out


def subject_key_report(
    s3: Any, bucket: str, *, keys: Any = None, max_objects: int = 200_000, now: int | None = None
) -> StoreReport:
    """The subject-key bucket of crypto-shredding (platestream/privacy/shredding.py): a plate's
    key until its erasure punctures it, and each tree until its records have left every topic.
    With ``keys`` (a SubjectKeys: the secret opens the trees) the due time is the first tree's
    end of life, flagged when a tree outlived it."""
    policy = "key trees: a plate's key until its erasure punctures it"
    expires: int | None = None
    if keys is not None:
        try:
            trees = keys.trees()
            ends = [t.expires_ms for t in trees if t.expires_ms]
            expires = min(ends) if ends else None
            policy += (
                f"; {len(ends)} of {len(trees)} trees end when their records' topics drop them"
                " (retention + dead letters + grace)"
            )
        except Exception as exc:  # the secret or the bucket: the listing below still reports
            logger.warning("retention report: the key trees do not open: %s", exc)
    oldest: int | None = None
    count, flag = 0, ""
    try:
        for obj in s3.list_objects(bucket, recursive=True):
            if obj.is_dir:
                continue
            if count >= max_objects:
                flag = f"sampled the first {max_objects} objects"
                break
            count += 1
            if obj.last_modified is not None:
                ms = int(obj.last_modified.timestamp() * 1000)
                oldest = ms if oldest is None else min(oldest, ms)
    except Exception as exc:  # an absent bucket (nothing sealed yet) or one that cannot be read
        code = getattr(exc, "code", "")
        if code != "NoSuchBucket":
            flag = f"cannot list: {exc}"
    now = now_ms() if now is None else now
    return StoreReport(
        "s3", bucket, policy, oldest, expires, count, flag or _flag(policy, oldest, expires, now)
    )


def format_report(reports: list[StoreReport]) -> str:
    """The report as aligned text lines: store, name, oldest, expiry, policy, flag."""
    from datetime import UTC, datetime

    def when(ms: int | None) -> str:
        if ms is None:
            return "-"
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")

    lines = [f"{'store':10} {'name':42} {'records':>9} {'oldest':16} {'due':16} flag / policy"]
    for r in reports:
        records = "-" if r.records is None else str(r.records)
        flag = f"[{r.flag}] " if r.flag else ""
        lines.append(
            f"{r.store:10} {r.name[:42]:42} {records:>9} {when(r.oldest_ms):16} "
            f"{when(r.expires_ms):16} {flag}{r.policy or 'none'}"
        )
    return "\n".join(lines)
