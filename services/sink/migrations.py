"""Versioned ClickHouse migrations: render the SQL files with the settings and apply the new ones.

Files ``migrations/NNN_name.sql`` are applied in order, each recorded in ``schema_migrations``
with its checksum, so `platestream db migrate` is idempotent. The SQL is a template: the engine
(local or replicated), the database, the TTL per table and the table settings come from
``SinkSettings``; statements also say IF NOT EXISTS, so a half-applied file can be re-run.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platestream.errors import SinkError
from services.sink.settings import SinkSettings

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_ENGINE = re.compile(r"\$\{(replacing|aggregating)\}\(([^)]*)\)")
_TTL = re.compile(r"\$\{ttl:([a-z_]+):([a-z_]+)\}")
# ${alter_ttl:<table>:<retention setting>:<time expression>}: the whole ALTER TABLE ... MODIFY TTL
# statement, or nothing when that retention is 0 (kept forever).
_ALTER_TTL = re.compile(r"\$\{alter_ttl:([a-z_]+):([a-z_]+):([A-Za-z_()]+)\}")
# ${purpose_ttl:<table>:<long key>:<short key>:<time expression>:<condition>}: a TTL that keeps
# rows <long key> days, and deletes those matching <condition> after <short key> days.
_PURPOSE_TTL = re.compile(r"\$\{purpose_ttl:([a-z_]+):([a-z_]+):([a-z_]+):([A-Za-z_()]+):([^}]+)\}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENGINES = {"replacing": "ReplacingMergeTree", "aggregating": "AggregatingMergeTree"}
FINE_GRANULES = 256
# The search indexes (012): a 256-row granule of a column is a few KiB, and ClickHouse decompresses
# whole compressed blocks (64 KiB to 1 MiB by default), so their blocks are kept small.
SMALL_BLOCKS = "min_compress_block_size = 4096, max_compress_block_size = 16384"
# 014: the engine of a lookup table: a Set on one server, a Merge over its source when replicated.
_SET_OR_MERGE = re.compile(r"\$\{set_or_merge:([a-z_]+)\}")
# A statement made only on a single server (local engine): dropped whole when replicated.
_LOCAL = re.compile(r"\$\{local\}([^;]*;)")


# What migrations need from a ClickHouse client: ``command(sql)`` and ``query(sql).result_rows``
# (clickhouse-connect's Client).
Commander = Any


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # the template as written in the file

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise SinkError(f"migration file name must be NNN_name.sql: {path.name}")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise SinkError(f"duplicate migration versions in {directory}")
    return found


def check_identifier(name: str) -> str:
    if not _IDENT.match(name):
        raise SinkError(f"not a safe ClickHouse identifier: {name!r}")
    return name


def render(sql: str, settings: SinkSettings, *, database: str) -> str:
    """Fill the placeholders of a migration template."""
    check_identifier(database)
    retention = settings.retention_days()
    replicated = settings.sink_engine == "replicated"

    def engine(m: re.Match[str]) -> str:
        base, args = ENGINES[m.group(1)], m.group(2).strip()
        if replicated:
            path = settings.sink_replica_path.replace("'", "\\'")
            name = settings.sink_replica_name.replace("'", "\\'")
            extra = f", {args}" if args else ""
            return f"Replicated{base}('{path}', '{name}'{extra})"
        return f"{base}({args})"

    def ttl(m: re.Match[str]) -> str:
        table, column = m.group(1), m.group(2)
        if table not in retention:
            raise SinkError(f"no retention setting for table {table!r}")
        days = retention[table]
        return f"TTL toDateTime({column}) + INTERVAL {int(days)} DAY" if days > 0 else ""

    def alter_ttl(m: re.Match[str]) -> str:
        table, key, expr = m.group(1), m.group(2), m.group(3)
        if key not in retention:
            raise SinkError(f"no retention setting for table {key!r}")
        days = int(retention[key])
        if days <= 0:
            return ""
        return (
            f"ALTER TABLE `{database}`.{table} MODIFY TTL toDateTime({expr}) + INTERVAL {days} DAY"
        )

    def purpose_ttl(m: re.Match[str]) -> str:
        table, long_key, short_key, expr, where = m.groups()
        for key in (long_key, short_key):
            if key not in retention:
                raise SinkError(f"no retention setting for {key!r}")
        long_days, short_days = int(retention[long_key]), int(retention[short_key])
        rules = []
        if long_days > 0:
            rules.append(f"toDateTime({expr}) + INTERVAL {long_days} DAY")
        if short_days > 0 and (long_days <= 0 or short_days < long_days):
            rules.append(f"toDateTime({expr}) + INTERVAL {short_days} DAY DELETE WHERE {where}")
        if not rules:
            return ""
        return f"ALTER TABLE `{database}`.{table} MODIFY TTL " + ", ".join(rules)

    dedup = []
    if settings.sink_engine == "local" and settings.sink_dedup_window > 0:
        # Makes insert_deduplication_token work on non-replicated tables (replicated ones have it).
        dedup.append(f"non_replicated_deduplication_window = {int(settings.sink_dedup_window)}")
    table_settings = ["index_granularity = 8192", *dedup]
    # The search indexes (010): read a few short key ranges per query, so small granules.
    fine_settings = [f"index_granularity = {FINE_GRANULES}", *dedup]
    sql = "\n".join(ln for ln in sql.splitlines() if not ln.lstrip().startswith("--"))
    out = _LOCAL.sub("" if replicated else r"\1", sql)
    out = _SET_OR_MERGE.sub(
        lambda m: f"Merge(`{database}`, '^{m.group(1)}$')" if replicated else "Set", out
    )
    out = _ENGINE.sub(engine, out)
    out = _TTL.sub(ttl, out)
    out = _ALTER_TTL.sub(alter_ttl, out)
    out = _PURPOSE_TTL.sub(purpose_ttl, out)
    out = out.replace("${settings}", "SETTINGS " + ", ".join(table_settings))
    out = out.replace("${fine_settings}", "SETTINGS " + ", ".join(fine_settings))
    out = out.replace("${small_blocks}", SMALL_BLOCKS)
    out = out.replace("${db}", f"`{database}`")
    out = out.replace("${refresh_minutes}", str(int(settings.sink_investigations_refresh_minutes)))
    if "${" in out:
        raise SinkError(f"unknown placeholder in migration: {out[out.index('${') :][:40]!r}")
    return out


def split_statements(sql: str) -> list[str]:
    """Statements separated by ';' at the end of a line; '--' comment lines dropped."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    parts = re.split(r";\s*(?:\n|$)", "\n".join(lines))
    return [p.strip() for p in parts if p.strip()]


def ensure_database(client: Commander, database: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS `{check_identifier(database)}`")
    client.command(
        f"CREATE TABLE IF NOT EXISTS `{database}`.schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version"
    )


def applied(client: Commander, database: str) -> dict[int, tuple[str, str, Any]]:
    rows = client.query(
        f"SELECT version, name, checksum, applied_at FROM `{check_identifier(database)}`.schema_migrations ORDER BY version"
    ).result_rows
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def migrate(
    client: Commander, settings: SinkSettings, *, database: str | None = None
) -> list[Migration]:
    """Apply every migration not yet recorded; returns those applied now."""
    db = database or settings.clickhouse_database
    ensure_database(client, db)
    done = applied(client, db)
    applied_now = []
    for mig in load_migrations():
        if mig.version in done:
            if done[mig.version][1] != mig.checksum:
                logger.warning(
                    "migration %03d_%s changed since it was applied (checksum %s, now %s); not re-applied",
                    mig.version,
                    mig.name,
                    done[mig.version][1],
                    mig.checksum,
                )
            continue
        for stmt in split_statements(render(mig.sql, settings, database=db)):
            try:
                client.command(stmt)
            except Exception as exc:
                raise SinkError(
                    f"migration {mig.version:03d}_{mig.name} failed: {exc}\n{stmt[:300]}"
                ) from exc
        client.command(
            f"INSERT INTO `{db}`.schema_migrations (version, name, checksum) VALUES "
            f"({mig.version}, '{mig.name}', '{mig.checksum}')"
        )
        logger.info("applied migration %03d_%s to %s", mig.version, mig.name, db)
        applied_now.append(mig)
    return applied_now


def status(
    client: Commander, settings: SinkSettings, *, database: str | None = None
) -> list[dict[str, Any]]:
    """One line per known migration: applied or pending, with checksums."""
    db = database or settings.clickhouse_database
    exists = client.command(f"EXISTS TABLE `{check_identifier(db)}`.schema_migrations")
    done = applied(client, db) if str(exists).strip() == "1" else {}
    out = []
    for mig in load_migrations():
        rec = done.get(mig.version)
        out.append(
            {
                "version": mig.version,
                "name": mig.name,
                "state": "applied" if rec else "pending",
                "applied_at": str(rec[2]) if rec else None,
                "changed": bool(rec and rec[1] != mig.checksum),
            }
        )
    return out


_CREATED = re.compile(
    r"CREATE\s+(MATERIALIZED\s+VIEW|VIEW|TABLE)\s+IF\s+NOT\s+EXISTS\s+\$\{db\}\.(\w+)", re.I
)


def created_objects() -> list[tuple[str, str]]:
    """(kind, name) of every table and view the migrations create, in creation order."""
    out = []
    for mig in load_migrations():
        for m in _CREATED.finditer(mig.sql):
            out.append((m.group(1).upper().replace("MATERIALIZED  ", "MATERIALIZED "), m.group(2)))
    return out


def drop_projections(client: Commander, database: str) -> None:
    """Drop every object the migrations created (views first) and the migrations record."""
    db = check_identifier(database)
    objects = created_objects()
    views = [name for kind, name in objects if "VIEW" in kind]
    tables = [name for kind, name in objects if "VIEW" not in kind]
    for name in reversed(views):
        client.command(f"DROP VIEW IF EXISTS `{db}`.`{name}` SYNC")
    for name in reversed(tables):
        client.command(f"DROP TABLE IF EXISTS `{db}`.`{name}` SYNC")
    client.command(f"DROP TABLE IF EXISTS `{db}`.schema_migrations SYNC")
