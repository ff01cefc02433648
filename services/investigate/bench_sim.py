"""`platestream bench city`: a simulated month (services/investigate/simcity.py) through the
detectors, scored against the planted truth (precision and recall).

Cloned plates: the clone detector itself (``CloneDetector``) over every passage in time order,
with the cameras' positions; a plate is flagged when at least one anomaly of kind ``clone`` names
it. Convoys and overstays: the month's passages written into plate_events of an ephemeral local
stack through the sink's own writer, then the same queries the API and the jobs run
(services/api/investigations.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import typer

from platestream.benchutil import machine, write_json
from platestream.ids import stable_id
from services.investigate.clones import CloneConfig, CloneDetector, Sighting
from services.investigate.simcity import DAY, City, simulate


def score(found: set[Any], truth: set[Any]) -> dict[str, Any]:
    tp = len(found & truth)
    return {
        "found": len(found),
        "planted": len(truth),
        "true_positives": tp,
        "precision": round(tp / len(found), 4) if found else None,
        "recall": round(tp / len(truth), 4) if truth else None,
        "false_positives": sorted(found - truth)[:20],
        "missed": sorted(truth - found)[:20],
    }


def clone_scores(city: City, config: CloneConfig) -> dict[str, Any]:
    det = CloneDetector(config)
    kinds: dict[str, int] = {"clone": 0, "misread": 0}
    flagged: set[str] = set()
    for i, p in enumerate(city.passages):
        cam = city.cameras[p.camera_id]
        s = Sighting(f"e{i}", p.camera_id, p.plate, p.ts, p.confidence, cam.lat, cam.lon, cam.site)
        for f in det.check(s):
            kinds[f.kind] += 1
            if f.kind == "clone":
                flagged.add(f.second.plate)
    return {**score(flagged, city.clones), "anomalies": kinds}


def _events(city: City) -> list[dict[str, Any]]:
    from services.investigate.bench import plate_events

    template = plate_events(1, 1)[0]
    out = []
    for i, p in enumerate(city.passages):
        cam = city.cameras[p.camera_id]
        out.append(
            {
                **template,
                "event_id": stable_id("city", i),
                "camera_id": p.camera_id,
                "plate": p.plate,
                "confidence": p.confidence,
                "ts": p.ts,
                "first_seen": p.ts,
                "last_seen": p.ts,
                "variants": [p.plate],
                "direction": p.direction,
                "site": cam.site,
                "lat": cam.lat,
                "lon": cam.lon,
            }
        )
    return out


def sql_scores(city: City, occasions: list[int]) -> dict[str, Any]:
    from platestream.clickhouse import make_clickhouse
    from services.api import investigations as q
    from services.investigate.bench_broker import some_stack
    from services.investigate.bench_queries import _without_views
    from services.sink.rows import BY_TABLE, Source
    from services.sink.writer import TableWriter

    out: dict[str, Any] = {}
    with some_stack(own=True) as s:
        s = s.model_copy(update={"clickhouse_database": "bench_city"})
        _without_views(s)
        client = make_clickhouse(s, autogenerate_session_id=False, send_receive_timeout=1800)
        writer = TableWriter(client=client, database="bench_city", mapping=BY_TABLE["plate_events"])
        events = _events(city)
        for i in range(0, len(events), 50_000):
            part = events[i : i + 50_000]
            writer.insert(part, [Source("city", 0, i + k) for k in range(len(part))])
        end = city.start + city.days * DAY
        window = {"since": city.start, "until": end}
        # the job's defaults (3 occasions, 2 cameras, share 0.5), then other occasion thresholds
        for k in [q.MIN_OCCASIONS, *occasions]:
            rows = q.all_convoys(
                client, within_ms=60_000, gap_ms=1_800_000, min_occasions=k, limit=100_000, **window
            )
            key = "convoys_defaults" if k == q.MIN_OCCASIONS else f"convoys_min_occasions_{k}"
            out.setdefault(key, score({(r["plate"], r["companion"]) for r in rows}, city.convoys))
            found = {(r["plate"], r["companion"]): r for r in rows}
            out[key]["false_positive_rows"] = [
                found[k2] for k2 in sorted(set(found) - city.convoys)[:10]
            ]
        # the share filter's part: the defaults without it
        rows = q.all_convoys(
            client, within_ms=60_000, gap_ms=1_800_000, min_share=0.0, limit=100_000, **window
        )
        out["convoys_defaults_without_share"] = score(
            {(r["plate"], r["companion"]) for r in rows}, city.convoys
        )
        # the missed pairs as the job sees them without the share filter, to explain them
        loose = q.all_convoys(
            client,
            within_ms=60_000,
            gap_ms=1_800_000,
            min_occasions=1,
            min_share=0.0,
            limit=100_000,
            **window,
        )
        out["convoys_defaults"]["missed_rows"] = [
            r
            for r in loose
            if (r["plate"], r["companion"]) in set(out["convoys_defaults"]["missed"])
        ]
        over = q.overstays(
            client, now=end, limit_s=4 * 3600.0, site="park", limit=100_000, **window
        )
        out["overstays"] = score({(r["plate"], r["entry_ms"]) for r in over}, city.overstays)
    return out


def run_bench(*, json_out: Path | None, seed: int, occasions: list[int]) -> dict[str, Any]:
    info = machine()
    t = time.perf_counter()
    # the month ends at today's midnight (UTC): the tables' retention (90 days for a passage
    # without a hit, migration 007) would delete a month simulated further back while it is scored
    today = int(time.time() * 1000) // DAY * DAY
    city = simulate(seed=seed, start=today - 30 * DAY)
    result: dict[str, Any] = {
        "machine": info,
        "city": {
            "cameras": len(city.cameras),
            "passages": len(city.passages),
            "days": city.days,
            "misreads": sum(1 for p in city.passages if p.plate != p.truth_plate),
            "simulate_s": round(time.perf_counter() - t, 1),
        },
    }
    typer.echo(f"city: {result['city']}")
    for label, cfg in (
        ("clones_250kmh", CloneConfig()),
        ("clones_120kmh", CloneConfig(max_speed_kmh=120)),
    ):
        result[label] = clone_scores(city, cfg)
        typer.echo(f"{label}: {_line(result[label])}, anomalies {result[label]['anomalies']}")
    result.update(sql_scores(city, occasions))
    for key in [k for k in result if k.startswith(("convoys", "overstays"))]:
        typer.echo(f"{key}: {_line(result[key])}")
    result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    write_json(json_out, result)
    return result


def _line(s: dict[str, Any]) -> str:
    return (
        f"precision {s['precision']}, recall {s['recall']} ({s['true_positives']} of"
        f" {s['planted']} planted, {s['found']} found)"
    )
