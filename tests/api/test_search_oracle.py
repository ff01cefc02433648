"""Every search kind against a brute-force oracle over all rows: same results, same order.

The rows go into ``plate_events`` (the sink's table) in the shape the sink writes them; the search
indexes of migration 003 are filled by its materialized views, as in production. Each query is
paged through with keyset cursors and compared, item by item, with the oracle of search_oracle.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from platestream.clickhouse import make_clickhouse
from services.api import plate_index, search
from services.api.search import run_search
from services.api.search_sql import EventQuery, build_search
from services.sink.migrations import migrate
from services.sink.settings import SinkSettings
from tests.api.search_oracle import CAMERAS, DAY_MS, T0, Row, generate, misread, oracle

pytestmark = pytest.mark.integration

COLUMNS = [
    "event_id", "version", "camera_id", "ts", "plate", "confidence", "first_seen", "last_seen",
    "read_count", "variants", "read_ids", "best_read_id", "image_keys", "image_kinds", "source",
    "site", "zone", "direction", "vehicle_type", "vehicle_color", "access_status",
    "watchlist_hits", "emitted_at", "topic", "partition", "offset",
]  # fmt: skip


def _load(client: Any, rows: list[Row]) -> None:
    from datetime import UTC, datetime

    data = []
    for n, r in enumerate(rows):
        ts = datetime.fromtimestamp(r.ts / 1000, UTC)
        data.append(
            [
                r.event_id, r.version, r.camera_id, ts, r.plate, r.conf_milli / 1000, ts, ts,
                1, [], [], "", [], [], "oracle", r.site, r.zone, r.direction, r.vehicle_type,
                r.vehicle_color, "unknown", r.watchlist_hits, ts, "anpr.events.v1", n % 6, n,
            ]
        )  # fmt: skip
    for start in range(0, len(data), 5000):  # batches, as the sink inserts them
        client.insert("plate_events", data[start : start + 5000], column_names=COLUMNS)


def queries(rows: list[Row], seed: int = 3) -> list[EventQuery]:
    """Queries of every kind built from plates in the table, with and without filters."""
    rng = random.Random(seed)
    plates = sorted({r.plate for r in rows})
    pick = lambda: rng.choice(plates)  # noqa: E731
    cjk = [p for p in plates if p.startswith("粤")]
    long_ = [p for p in plates if len(p) > 12]
    day = T0 + 3 * DAY_MS
    out = [EventQuery(plate=pick(), mode="exact") for _ in range(4)]
    out += [
        EventQuery(plate=cjk[0], mode="exact"),
        EventQuery(plate=pick().lower(), mode="exact", cameras=CAMERAS[:4]),
        EventQuery(plate=pick()[:1], mode="prefix", since_ms=day, until_ms=day + DAY_MS),
        EventQuery(plate=pick()[:2], mode="prefix"),
        EventQuery(plate=pick()[:3], mode="prefix", min_confidence=0.7),
        EventQuery(plate="粤", mode="prefix", direction="leaving"),
        EventQuery(plate=pick()[:4], mode="prefix", sort="score"),
    ]
    for _ in range(2):
        p = pick()
        out += [
            EventQuery(plate=p[:2] + "?" + p[3:5] + "*"),
            EventQuery(plate="*" + p[-3:]),
            EventQuery(plate="?" + p[1:3] + "*", vehicle_type="car"),
            EventQuery(plate=p[:1] + "*" + p[-1:], cameras=CAMERAS[:6]),
            EventQuery(plate="*" + p[2:4] + "*"),
            EventQuery(plate=p[:3] + "?" * (len(p) - 3), mode="wildcard"),
            EventQuery(plate=p[:1] + "*" + p[-3:], since_ms=day),
            EventQuery(plate="*" + p[-4:-2] + "?" + p[-1:], sort="score"),
        ]
    out.append(EventQuery(plate=cjk[1][:2] + "?" + cjk[1][3:]))
    for dist, sort in ((0, "score"), (0.4, "score"), (1, "score"), (1, "time"), (1.4, "score")):
        out.append(
            EventQuery(plate=misread(pick(), rng), mode="fuzzy", max_distance=dist, sort=sort)
        )  # type: ignore[arg-type]
    out += [
        EventQuery(plate=misread(pick(), rng), mode="fuzzy", max_distance=2, sort="score"),
        EventQuery(plate=misread(pick(), rng), mode="fuzzy", max_distance=2, min_confidence=0.6),
        EventQuery(plate=pick(), mode="fuzzy", max_distance=2, sort="score", site="north"),
        EventQuery(plate=misread(cjk[2], rng), mode="fuzzy", max_distance=1.4, sort="score"),
        EventQuery(plate=misread(long_[0], rng), mode="fuzzy", max_distance=2, sort="score"),
        EventQuery(plate=pick()[:5], mode="fuzzy", max_distance=3, sort="score"),
        EventQuery(plate=pick(), mode="fuzzy", max_distance=2, watchlist_only=True),
    ]
    # sorted by score within a time window: resolved through the dictionaries (migration 016)
    week = {"since_ms": day, "until_ms": day + 7 * DAY_MS}
    out += [
        EventQuery(plate=misread(pick(), rng), mode="fuzzy", max_distance=2, sort="score", **week),
        EventQuery(plate=misread(pick(), rng), mode="fuzzy", max_distance=1, sort="score", **week),
        EventQuery(plate="*" + pick()[-2:], sort="score", **week),
        EventQuery(plate=pick()[:2] + "*", sort="score", since_ms=day),
    ]
    return out


def _walk(client: Any, q: EventQuery, page: int) -> list[tuple[str, int, float]]:
    """Every result of the query, following next_cursor page by page."""
    out: list[tuple[str, int, float]] = []
    q.cursor = None
    for _ in range(10_000):
        items, cursor = run_search(client, q, limit=page)
        out += [(i["event_id"], i["version"], i["distance"]) for i in items]
        if cursor is None:
            return out
        q.cursor = cursor
    raise AssertionError("pagination did not end")


@pytest.fixture
def oracle_db(settings: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, list[Row]]]:
    n_events = getattr(request, "param", 20_000)
    sink = SinkSettings(**settings.model_dump())
    migrate(make_clickhouse(sink, database="default"), sink)
    client = make_clickhouse(settings, send_receive_timeout=300)
    rows = generate(n_events)
    _load(client, rows)
    yield client, rows


def _check_all(client: Any, rows: list[Row], only: tuple[str, ...] = ()) -> None:
    kinds: dict[str, int] = {}
    for q in queries(rows):
        if only and q.resolved_mode() not in only:
            continue
        want = oracle(rows, q)
        got = _walk(client, q, page=37)
        assert got == want, (q, len(got), len(want))
        kind = q.resolved_mode()
        kinds[kind] = kinds.get(kind, 0) + len(want)
    # every kind found something, so no comparison was between two empty lists only
    want = set(only) or {"exact", "prefix", "wildcard", "fuzzy"}
    assert set(kinds) == want and all(kinds.values()), kinds


def test_every_search_kind_matches_the_oracle(
    oracle_db: tuple[Any, list[Row]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rows = oracle_db
    _check_all(client, rows)
    # a pattern matching more plates than the resolver hands over takes the unresolved path
    # (LIKE on the plate index, the edit-distance SQL on plate_events): the same answers
    monkeypatch.setattr(plate_index, "MAX_RESOLVED", 0)
    _check_all(client, rows, only=("wildcard", "fuzzy"))
    monkeypatch.undo()
    # patterns whose first plates in the page's order are not enough: asked for in full again
    for first in (1, 40):
        monkeypatch.setattr(search, "TOP_PLATES", first)
        _check_all(client, rows, only=("wildcard", "fuzzy"))
    monkeypatch.undo()
    # and every step is a primary-key lookup: with force_primary_key ClickHouse refuses a query
    # that would filter without its table's key (a scan)
    plate = rows[0].plate
    key_only = {"force_primary_key": 1}
    for sql, params in (
        plate_index.fuzzy_sql(plate, 2),
        plate_index.fuzzy_sql(plate, 2, times=False),
        plate_index.wildcard_sql("%" + plate[-4:]),
        plate_index.wildcard_sql(plate[:2] + "%"),
        plate_index.wildcard_sql("%" + plate[1:4] + "%"),
        build_search(EventQuery(plate=plate, mode="exact")),
        build_search(EventQuery(plate=plate[:2], mode="prefix")),
        build_search(EventQuery(plate=plate, mode="fuzzy"), resolved={plate: 0, "X1": 4}),
    ):
        client.query(sql, parameters=params, settings=key_only)


def test_a_page_read_by_plate_answers_the_fields_the_event_table_holds(
    oracle_db: tuple[Any, list[Row]],
) -> None:
    """Pages by plate read the index's result column (migration 012), pages by camera read
    plate_events: both give the same fields for the same event."""
    client, rows = oracle_db
    checked = 0
    for plate in sorted({r.plate for r in rows})[:100:5]:
        # (a plate only an older version of an event was read as has no result)
        by_plate, _ = run_search(client, EventQuery(plate=plate, mode="exact"), limit=200)
        for item in by_plate:
            checked += 1
            by_camera, _ = run_search(
                client,
                EventQuery(
                    cameras=[item["camera_id"]], since_ms=item["ts"], until_ms=item["ts"] + 1
                ),
                limit=200,
            )
            same = [e for e in by_camera if e["event_id"] == item["event_id"]]
            assert same == [item], (item, same)
    assert checked >= 10


def test_copies_of_a_version_in_unmerged_parts_are_answered_once(
    oracle_db: tuple[Any, list[Row]],
) -> None:
    """A batch stored twice (a redelivery before merges collapse it) changes no answer."""
    client, rows = oracle_db
    for table in ("plate_events", "plate_event_index"):
        client.command(f"SYSTEM STOP MERGES {table}")
    try:
        _load(client, [r for r in rows if r.plate[-1] in "0123"])  # one block, not the first ones
        copies = client.query(
            "SELECT count() - uniqExact(event_id, version) FROM plate_event_index"
        ).result_rows[0][0]
        assert copies > 1000
        _check_all(client, rows)
        by_camera = EventQuery(cameras=CAMERAS[:2], sort="time")
        assert _walk(client, by_camera, page=37) == oracle(rows, by_camera)
    finally:
        for table in ("plate_events", "plate_event_index"):
            client.command(f"SYSTEM START MERGES {table}")


@pytest.mark.slow
@pytest.mark.parametrize("oracle_db", [120_000], indirect=True)
def test_every_search_kind_matches_the_oracle_at_120k_events(
    oracle_db: tuple[Any, list[Row]],
) -> None:
    client, rows = oracle_db
    _check_all(client, rows)
