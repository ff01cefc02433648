"""`platestream privacy export`: a subject-access archive of one plate, written to a file."""

from __future__ import annotations

import getpass
import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Privacy: subject-access archives and erasures (docs/privacy.md).", no_args_is_help=True
)


def read_latest(settings: Any, base_topic: str, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The latest live value per key of a compacted topic, read from the beginning to its end."""
    from platestream.kafka import make_consumer, read_to_end
    from platestream.serde import AvroSerde

    serde = AvroSerde(settings=settings)
    consumer = make_consumer(
        settings, f"platestream-privacy-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True}
    )
    latest: dict[bytes, dict[str, Any] | None] = {}
    try:
        topic = settings.topic(base_topic)
        for msg in read_to_end(consumer, [topic], stall_s=timeout_s, strict=False):
            latest[msg.key() or b""] = None if msg.value() is None else serde.decode(msg.value())
    finally:
        consumer.close()
    return [v for v in latest.values() if v is not None]


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _audit_record(
    action: str,
    query: dict[str, Any],
    *,
    purpose: str,
    case_id: str | None,
    status: int,
    result_count: int | None = None,
) -> dict[str, Any]:
    """An AuditRecord of one privacy command, as the API writes for its own routes."""
    import json

    from platestream.timeutil import now_ms

    return {
        "audit_id": str(uuid.uuid4()),
        "ts": now_ms(),
        "actor": _actor(),
        "role": "admin",
        "action": action,
        "resource": f"platestream privacy {'export' if action == 'subject_access' else 'erase'}",
        "query": json.dumps({**query, "purpose": purpose, "case_id": case_id}, sort_keys=True),
        "result_count": result_count,
        "status": status,
        "client_ip": None,
        "request_id": None,
        "purpose": purpose,
        "case_id": case_id,
    }


def _publish(settings: Any, records: list[tuple[Any, str, dict[str, Any]]]) -> bool:
    """Produce (topic, key, record) each to its catalogue topic; whether the broker acknowledged
    every one within 10 s."""
    from platestream.kafka import make_producer
    from platestream.serde import AvroSerde

    serde = AvroSerde(settings=settings)
    producer = make_producer(settings)
    for base, key, rec in records:
        topic = settings.topic(base.name)
        value = serde.encode(base.schema, rec, subject=f"{topic}-value")
        producer.produce(topic, key=key.encode(), value=value)
    return producer.flush(10) == 0


def _audit(
    settings: Any, plate: str, purpose: str, case_id: str | None, counts: dict[str, int]
) -> None:
    """The export is an audited act like any search: one AuditRecord, acknowledged by the broker."""
    from platestream import topics as catalogue

    rec = _audit_record(
        "subject_access",
        {"plate": plate, "mode": "exact"},
        purpose=purpose,
        case_id=case_id,
        status=200,
        result_count=sum(v for k, v in counts.items() if k.endswith(".jsonl")),
    )
    if not _publish(settings, [(catalogue.AUDIT, rec["actor"], rec)]):
        typer.echo(
            "the audit record of this export was not acknowledged; the archive was written",
            err=True,
        )
        raise typer.Exit(2)


@app.command("export")
def export(
    plate: Annotated[
        str, typer.Option("--plate", help="The plate (normalised: ABC-1234 = ABC1234).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The ZIP file to write.")],
    purpose: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "subject_access",
    case_id: Annotated[
        str | None, typer.Option("--case-id", help="Request or case reference.")
    ] = None,
    max_images: Annotated[int, typer.Option(min=0, help="At most this many images.")] = 10_000,
) -> None:
    """Write every record, image and audit entry about one plate, and who searched for it."""
    from platestream import topics as catalogue
    from platestream.clickhouse import make_clickhouse
    from platestream.privacy.subject_access import ArchiveRequest, iter_archive
    from platestream.s3 import make_s3
    from platestream.settings import CommonSettings, load

    settings = load(CommonSettings)
    req = ArchiveRequest(
        plate=plate,
        requested_by=f"cli:{getpass.getuser()}",
        purpose=purpose,
        case_id=case_id,
        max_images=max_images,
    )
    entries = read_latest(settings, catalogue.BOLO.name)
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as fh:
        for chunk in iter_archive(
            req,
            clickhouse=make_clickhouse(settings, autogenerate_session_id=False),
            s3=make_s3(settings),
            bucket=settings.s3_bucket,
            watchlist_entries=entries,
        ):
            fh.write(chunk)
    os.replace(tmp, out)
    _audit(settings, req.plate, purpose, case_id, req.counts)
    summary = ", ".join(f"{k} {v}" for k, v in req.counts.items())
    typer.echo(f"{out}: {req.plate}: {summary}")


@app.command("erase")
def erase(
    plate: Annotated[
        str | None, typer.Option("--plate", help="Erase this plate (ABC-1234 = ABC1234).")
    ] = None,
    event_id: Annotated[
        str | None, typer.Option("--event-id", help="Or erase this one plate event.")
    ] = None,
    purpose: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "subject_access",
    case_id: Annotated[
        str | None, typer.Option("--case-id", help="Request or case reference.")
    ] = None,
) -> None:
    """Request the erasure of a plate (every record of it seen until now) or of one plate event.

    Written as an event on anpr.erasures.v1, audited; the sink carries it out and records what it
    removed in the erasures table (docs/privacy.md, section 4). The plate is written nowhere in
    clear: the request names it by its keyed hash."""
    import json

    from platestream import topics as catalogue
    from platestream.clickhouse import make_clickhouse
    from platestream.plates import normalise
    from platestream.privacy.erasure import event_reads, event_request, plate_request
    from platestream.settings import DEV_PRIVACY_SUBJECT_KEY, CommonSettings, load

    if (plate is None) == (event_id is None):
        raise typer.BadParameter("give exactly one of --plate or --event-id")
    settings = load(CommonSettings)
    if settings.env == "production" and settings.privacy_subject_key == DEV_PRIVACY_SUBJECT_KEY:
        typer.echo(
            "set PLATESTREAM_PRIVACY_SUBJECT_KEY (the API's and the sink's): the development key "
            "is refused in production",
            err=True,
        )
        raise typer.Exit(2)
    common: dict[str, Any] = {"actor": _actor(), "purpose": purpose, "case_id": case_id}
    if plate is not None:
        norm = normalise(plate)
        if not norm or len(norm) > 32:
            raise typer.BadParameter("a plate has 1-32 letters or digits")
        rec = plate_request(norm, key=settings.privacy_subject_key, **common)
    else:
        reads = event_reads(
            make_clickhouse(settings, autogenerate_session_id=False), event_id or ""
        )
        if reads is None:
            typer.echo(f"no plate event {event_id}", err=True)
            raise typer.Exit(1)
        rec = event_request(event_id or "", reads, **common)
    what = {k: rec[k] for k in ("erasure_id", "scope", "subject_id", "event_id")}
    audit = _audit_record("erasure", what, purpose=purpose, case_id=case_id, status=202)
    acknowledged = _publish(
        settings,
        [(catalogue.AUDIT, audit["actor"], audit), (catalogue.ERASURES, rec["erasure_id"], rec)],
    )
    if not acknowledged:
        typer.echo("the erasure request was not acknowledged by the broker", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps({**what, "before_ts": rec["before_ts"], "status": "requested"}))
