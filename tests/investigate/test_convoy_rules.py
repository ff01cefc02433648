"""The convoy rules added for the simulated city's misses and false positives (issue 16), on
passages written by the sink's own writer into a database of their own: a follower of a plate
whose trips pass one camera only is still a companion, and a commuter who shares a few of its many
trips with a plate is not one unless the share threshold is lowered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from platestream.ids import stable_id
from services.api import investigations as q
from services.investigate.bench import plate_events

from .dataset import CAMERAS, DAY, HOUR

pytestmark = pytest.mark.integration
GAP = 1_800_000
LEADER, FOLLOWER = "LDR0001", "FOL0001"  # the leader's trips pass cam-1 only
COMMUTER, NEIGHBOUR = "CMT0001", "NBR0001"  # the neighbour shares 3 of its 10 trips
ROUTE = ("cam-1", "cam-2", "cam-3")


def passages(base: int) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for d in range(4):
        t = base + d * DAY + 7 * HOUR
        out += [(LEADER, "cam-1", t), (FOLLOWER, "cam-1", t + 20_000)]
    for d in range(10):
        t = base + d * DAY + 17 * HOUR
        out += [(COMMUTER, cam, t + k * 600_000) for k, cam in enumerate(ROUTE)]
        # together on the first 3 days; 3 hours later (another trip of its own) on the others
        lag = 30_000 if d < 3 else 3 * HOUR
        out += [(NEIGHBOUR, cam, t + lag + k * 600_000) for k, cam in enumerate(ROUTE[:2])]
    return out


@pytest.fixture(scope="module")
def town(inv_env) -> Iterator[tuple]:
    from platestream.clickhouse import make_clickhouse
    from services.investigate.bench_queries import _without_views
    from services.sink.rows import BY_TABLE, Source
    from services.sink.writer import TableWriter

    s = inv_env.settings.model_copy(update={"clickhouse_database": "inv_convoy_rules"})
    _without_views(s)
    client = make_clickhouse(s, autogenerate_session_id=False)
    template = plate_events(1, 1)[0]
    events = []
    for i, (plate, cam, ts) in enumerate(passages(inv_env.base)):
        site, lat, lon = CAMERAS[cam]
        events.append(
            {
                **template,
                "event_id": stable_id("convoy-rules", i),
                "camera_id": cam,
                "plate": plate,
                "ts": ts,
                "first_seen": ts,
                "last_seen": ts,
                "variants": [plate],
                "direction": None,
                "site": site,
                "lat": lat,
                "lon": lon,
            }
        )
    writer = TableWriter(
        client=client, database="inv_convoy_rules", mapping=BY_TABLE["plate_events"]
    )
    writer.insert(events, [Source("convoy-rules", 0, k) for k in range(len(events))])
    yield client, {"since": inv_env.base, "until": inv_env.base + 11 * DAY}
    client.command("DROP DATABASE IF EXISTS inv_convoy_rules")


def test_a_follower_of_one_camera_trips_is_a_companion(town) -> None:
    client, span = town
    args = {"within_ms": 60_000, "gap_ms": GAP, **span}
    [row] = q.convoys(client, plate=LEADER, **args)
    assert (row["plate"], row["occasions"], row["cameras"], row["share"]) == (FOLLOWER, 4, 1, 1.0)
    [back] = q.convoys(client, plate=FOLLOWER, **args)
    assert back["plate"] == LEADER
    pairs = q.all_convoys(client, **args)
    assert [(r["plate"], r["companion"], r["support"]) for r in pairs] == [(FOLLOWER, LEADER, 4)]


def test_a_neighbour_on_a_few_of_many_trips_is_not_a_convoy(town) -> None:
    client, span = town
    args = {"within_ms": 60_000, "gap_ms": GAP, **span}
    assert q.convoys(client, plate=COMMUTER, **args) == []
    [row] = q.convoys(client, plate=COMMUTER, min_share=0.25, **args)
    assert (row["plate"], row["occasions"], row["trips"], row["share"]) == (NEIGHBOUR, 3, 10, 0.3)
    loose = q.all_convoys(client, min_share=0.25, **args)
    assert [(r["plate"], r["companion"], r["support"], r["share"]) for r in loose] == [
        (FOLLOWER, LEADER, 4, 1.0),
        (COMMUTER, NEIGHBOUR, 3, 0.3),
    ]
    # a trip of the commuter passes three cameras: the neighbour's two are then too few for it
    strict = q.all_convoys(client, min_share=0.0, min_cameras=3, **args)
    assert [(r["plate"], r["companion"]) for r in strict] == [(FOLLOWER, LEADER)]
