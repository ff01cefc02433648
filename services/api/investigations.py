"""Investigation queries over the passages in ClickHouse: convoys, journeys, origin-destination,
travel times between cameras, dwell at sites, and the clone detector's anomalies.

Every query reads ``plate_events FINAL`` (the latest version of each passage) in a time range
and orders one plate's passages by time with window functions; the shared building block is
``PASSAGES``: each passage with the number of the trip it belongs to (a gap longer than
``gap_ms`` between two passages of one plate starts a new trip; convoys call trips "occasions").
docs/investigations.md has the same SQL for analysts to run directly.
"""

from __future__ import annotations

from typing import Any, Literal

from platestream.plates import CONFUSABLE_PAIRS
from services.api.search_sql import FAST_FINAL

# Convoy defaults (the API, the console form and the job): docs/investigations.md measures them.
MIN_OCCASIONS = 3
MIN_CAMERAS = 2
MIN_SHARE = 0.5
# At most this many companions of one plate are ranked by share (the rest by occasions are cut).
CANDIDATES = 10_000

RANGE = (
    "ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
    " AND ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
)
_ORDERED = (
    "WINDOW w AS (PARTITION BY plate ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
)
# One row per passage: plate, camera, time (ms), site, zone, direction, position, trip number.
PASSAGES = (
    "SELECT plate, camera_id, t, site, zone, direction, lat, lon,"
    " sum(new_trip) OVER (PARTITION BY plate ORDER BY t ROWS UNBOUNDED PRECEDING) AS trip"
    " FROM (SELECT plate, camera_id, t, site, zone, direction, lat, lon,"
    " if(row_number() OVER w = 1 OR t - lagInFrame(t) OVER w > {gap_ms:Int64}, 1, 0) AS new_trip"
    " FROM (SELECT plate, toString(camera_id) AS camera_id, toUnixTimestamp64Milli(ts) AS t,"
    " ifNull(toString(site), '') AS site, ifNull(toString(zone), '') AS zone,"
    " ifNull(toString(direction), 'unknown') AS direction, lat, lon"
    " FROM plate_events FINAL WHERE {where} AND " + RANGE + ") " + _ORDERED + ")"
)

JOURNEYS_SQL = (
    "SELECT trip, min(t) AS start_ms, max(t) AS end_ms, count() AS passages,"
    " argMin(site, t) AS origin, argMax(site, t) AS destination,"
    " arraySort(x -> x.2, groupArray((camera_id, t, site, direction, lat, lon))) AS stops"
    " FROM (" + PASSAGES.replace("{where}", "plate = {plate:String}") + ")"
    " GROUP BY trip ORDER BY trip" + FAST_FINAL
)

# An occasion is one trip of the plate on which the companion passed at least `min_cameras` of
# the same cameras within the window (or every camera of the trip, when the trip passed fewer):
# a convoy follows along a road, traffic meets once. `x_trips` is the plate's number of trips in
# the range; the companions' own trip counts come from TRIP_COUNTS_SQL, and `share` (occasions
# over the trips of the less travelled of the two) is what separates a convoy from commuters who
# share roads at the same hours (they meet on a few of their many trips).
_TARGET = (
    "SELECT plate, camera_id, t, trip, uniqExact(camera_id) OVER (PARTITION BY trip) AS trip_cams,"
    " max(trip) OVER () AS trips FROM ("
    + PASSAGES.replace("{where}", "plate = {plate:String}")
    + ")"
)
CONVOY_SQL = (
    "WITH target AS (" + _TARGET + ")"
    " SELECT plate, count() AS occasions, sum(n) AS passages, max(cams) AS cameras,"
    " min(lo) AS first_ms, max(hi) AS last_ms, any(x_trips) AS plate_trips"
    " FROM (SELECT e.plate AS plate, x.trip AS trip, uniqExact(e.camera_id) AS cams,"
    " uniqExact(e.camera_id, e.t) AS n, min(e.t) AS lo, max(e.t) AS hi,"
    " any(x.trip_cams) AS trip_cams, any(x.trips) AS x_trips"
    " FROM (SELECT plate, toString(camera_id) AS camera_id, toUnixTimestamp64Milli(ts) AS t"
    " FROM plate_events FINAL WHERE " + RANGE + " AND plate != {plate:String}"
    " AND camera_id IN (SELECT camera_id FROM target)) AS e"
    " INNER JOIN target AS x ON e.camera_id = x.camera_id"
    " WHERE abs(e.t - x.t) <= {within_ms:Int64}"
    " GROUP BY plate, trip HAVING cams >= least({min_cameras:UInt32}, trip_cams))"
    " GROUP BY plate HAVING occasions >= {min_occasions:UInt32}"
    " ORDER BY occasions DESC, passages DESC, plate LIMIT {candidates:UInt32}" + FAST_FINAL
)
# The number of trips of each plate in a list (a gap longer than gap_ms starts a new one).
TRIP_COUNTS_SQL = (
    "SELECT plate, 1 + arrayCount((a, b) -> b - a > {gap_ms:Int64}, arrayPopBack(times),"
    " arrayPopFront(times)) AS trips FROM (SELECT plate, arraySort(groupArray(toUnixTimestamp64Milli(ts)))"
    " AS times FROM plate_events FINAL WHERE plate IN {plates:Array(String)} AND " + RANGE + ""
    " GROUP BY plate)" + FAST_FINAL
)

# Every pair of plates travelling together on enough occasions of each. Passages are bucketed by
# the window; the companion side is copied into the neighbouring buckets, so every pair within the
# window meets exactly once in the join. A pair of trips is an occasion of a plate when the two
# passed min_cameras cameras together or every camera of that plate's trip; `support` is the
# smaller of the two plates' occasions (what each plate's own convoy query would count, at most)
# and `share` the support over the trips of the less travelled plate.
_TRIPS = (
    "SELECT plate, camera_id, t, trip, uniqExact(camera_id) OVER (PARTITION BY plate, trip)"
    " AS trip_cams, max(trip) OVER (PARTITION BY plate) AS trips, intDiv(t, {within_ms:Int64})"
    " AS bucket FROM (" + PASSAGES.replace("{where}", "1") + ")"
)
CONVOYS_ALL_SQL = (
    "WITH p AS (" + _TRIPS + ")"
    " SELECT plate, companion, uniqExactIf(a_trip, cams >= need_a) AS occasions_plate,"
    " uniqExactIf(b_trip, cams >= need_b) AS occasions_companion,"
    " least(occasions_plate, occasions_companion) AS support,"
    " sum(n) AS co_passages, max(cams) AS cameras,"
    " any(a_trips) AS trips_plate, any(b_trips) AS trips_companion,"
    " round(support / least(trips_plate, trips_companion), 4) AS share"
    " FROM (SELECT a.plate AS plate, b.plate AS companion, a.trip AS a_trip, b.trip AS b_trip,"
    " count() AS n, uniqExact(a.camera_id) AS cams,"
    " least({min_cameras:UInt32}, any(a.trip_cams)) AS need_a,"
    " least({min_cameras:UInt32}, any(b.trip_cams)) AS need_b,"
    " any(a.trips) AS a_trips, any(b.trips) AS b_trips"
    " FROM p AS a"
    " INNER JOIN (SELECT plate, camera_id, t, trip, trip_cams, trips,"
    " arrayJoin([bucket - 1, bucket, bucket + 1]) AS bucket FROM p) AS b"
    " ON a.camera_id = b.camera_id AND a.bucket = b.bucket"
    " WHERE a.plate < b.plate AND abs(a.t - b.t) <= {within_ms:Int64}"
    " GROUP BY plate, companion, a_trip, b_trip HAVING cams >= least(need_a, need_b))"
    " GROUP BY plate, companion"
    " HAVING support >= {min_occasions:UInt32} AND share >= {min_share:Float64}"
    " ORDER BY support DESC, share DESC, co_passages DESC, plate, companion"
    " LIMIT {limit:UInt32}" + FAST_FINAL
)

OD_SQL = (
    "SELECT toUnixTimestamp(toStartOfHour(fromUnixTimestamp64Milli(start_ms, 'UTC'))) * 1000 AS hour_ms,"
    " origin, destination, count() AS trips"
    " FROM (SELECT plate, trip, min(t) AS start_ms, argMin({area}, t) AS origin,"
    " argMax({area}, t) AS destination"
    " FROM (" + PASSAGES.replace("{where}", "1") + ") GROUP BY plate, trip)"
    " GROUP BY hour_ms, origin, destination ORDER BY hour_ms, trips DESC, origin, destination"
    " LIMIT 100000" + FAST_FINAL
)

# quantileExact(q) is the element at index floor(q * n) of the sorted values.
TRAVEL_SQL = (
    "SELECT prev_camera AS from_camera, camera_id AS to_camera, count() AS trips,"
    " quantileExact(0.5)(dt) / 1000 AS median_s, quantileExact(0.9)(dt) / 1000 AS p90_s"
    " FROM (SELECT camera_id, trip, lagInFrame(camera_id) OVER w AS prev_camera,"
    " lagInFrame(trip) OVER w AS prev_trip, t - lagInFrame(t) OVER w AS dt,"
    " row_number() OVER w AS n FROM (" + PASSAGES.replace("{where}", "1") + ") " + _ORDERED + ")"
    " WHERE n > 1 AND trip = prev_trip AND camera_id != prev_camera"
    " GROUP BY from_camera, to_camera HAVING trips >= {min_trips:UInt32}"
    " ORDER BY trips DESC, from_camera, to_camera LIMIT 10000" + FAST_FINAL
)

# The refreshable views of migration 009 hold the same answers for the default gap, recomputed
# every PLATESTREAM_SINK_INVESTIGATIONS_REFRESH_MINUTES: whole hours (of a trip's start, of a
# hop's arrival) from the hour that holds `since` to `until`.
VIEW_GAP_MS = 1_800_000
VIEWS = {"od": "od_hourly_refresh", "travel": "travel_times_refresh"}
_HOURS = (
    "hour >= toStartOfHour(fromUnixTimestamp64Milli({since:Int64}, 'UTC'))"
    " AND hour < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
)
OD_VIEW_SQL = (
    "SELECT toUnixTimestamp(hour) * 1000 AS hour_ms, origin, destination, sum(trips) AS trips"
    " FROM od_hourly WHERE by = {by:String} AND " + _HOURS + ""
    " GROUP BY hour_ms, origin, destination ORDER BY hour_ms, trips DESC, origin, destination"
    " LIMIT 100000"
)
TRAVEL_VIEW_SQL = (
    "SELECT from_camera, to_camera, sum(trips) AS trips,"
    " quantilesExactMerge(0.5, 0.9)(seconds_q)[1] / 1000 AS median_s,"
    " quantilesExactMerge(0.5, 0.9)(seconds_q)[2] / 1000 AS p90_s"
    " FROM travel_times WHERE " + _HOURS + ""
    " GROUP BY from_camera, to_camera HAVING trips >= {min_trips:UInt32}"
    " ORDER BY trips DESC, from_camera, to_camera LIMIT 10000"
)
REFRESHED_SQL = (
    "SELECT toUnixTimestamp64Milli(toDateTime64(last_success_time, 3, 'UTC'))"
    " FROM system.view_refreshes WHERE database = currentDatabase() AND view = {view:String}"
    " AND last_success_time IS NOT NULL AND toUnixTimestamp(last_success_time) > 0"
)

# Each entry (approaching) followed by an exit (leaving) of the same vehicle at the same site is a
# stay; an entry followed by another entry lost its exit and is dropped; the last entry without
# an exit is a stay still open at `now`. Entries and exits are paired on the plate with every
# OCR-confusable pair folded (platestream.plates.fold), so an exit read as A8C1234 still closes
# the stay of ABC1234 instead of leaving it open (an overstay that never was).
FOLD_FROM, FOLD_TO = (
    "".join(a for a, _ in CONFUSABLE_PAIRS),
    "".join(b for _, b in CONFUSABLE_PAIRS),
)
STAYS_SQL = (
    "SELECT plate, site, t AS entry_ms, if(next_dir = 'leaving', next_t, NULL) AS exit_ms,"
    " (ifNull(exit_ms, {now:Int64}) - t) / 1000 AS seconds"
    " FROM (SELECT plate, site, t, direction, leadInFrame(direction, 1, '') OVER w AS next_dir,"
    " leadInFrame(t) OVER w AS next_t"
    " FROM (SELECT plate, translate(plate, '" + FOLD_FROM + "', '" + FOLD_TO + "') AS folded,"
    " ifNull(toString(site), '') AS site, toUnixTimestamp64Milli(ts) AS t,"
    " toString(direction) AS direction FROM plate_events FINAL"
    " WHERE " + RANGE + " AND direction IN ('approaching', 'leaving') AND {site_filter})"
    " WINDOW w AS (PARTITION BY folded, site ORDER BY t"
    " ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))"
    " WHERE direction = 'approaching' AND next_dir IN ('leaving', '')"
)
DWELL_SQL = (
    "SELECT site, count() AS stays, countIf(exit_ms IS NULL) AS inside,"
    " quantileExact(0.5)(seconds) AS median_s, quantileExact(0.9)(seconds) AS p90_s,"
    " countIf(seconds > {limit_s:Float64}) AS overstays"
    " FROM (" + STAYS_SQL + ") GROUP BY site ORDER BY site" + FAST_FINAL
)
OVERSTAYS_SQL = (
    "SELECT * FROM (" + STAYS_SQL + ") WHERE seconds > {limit_s:Float64}"
    " ORDER BY seconds DESC, plate LIMIT {limit:UInt32}" + FAST_FINAL
)

ANOMALIES_SQL = (
    "SELECT anomaly_id, kind, plate, toUnixTimestamp64Milli(ts) AS ts_ms, distance_km,"
    " seconds_apart, speed_kmh, reason, first_camera_id, toUnixTimestamp64Milli(first_ts) AS first_ms,"
    " first_site, first_lat, first_lon, second_camera_id,"
    " toUnixTimestamp64Milli(second_ts) AS second_ms, second_site, second_lat, second_lon"
    " FROM anomalies FINAL WHERE " + RANGE + " AND {kind_filter}"
    " ORDER BY ts_ms DESC, anomaly_id LIMIT {limit:UInt32}" + FAST_FINAL
)


def _rows(client: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in client.query(sql, parameters=params).named_results()]


def journeys(
    client: Any, *, plate: str, since: int, until: int, gap_ms: int
) -> list[dict[str, Any]]:
    """The plate's trips: start, end, origin and destination sites, and the stops in order."""
    rows = _rows(
        client, JOURNEYS_SQL, {"plate": plate, "since": since, "until": until, "gap_ms": gap_ms}
    )
    keys = ("camera_id", "ts", "site", "direction", "lat", "lon")
    for r in rows:
        r["trip"] = int(r["trip"])
        r["stops"] = [dict(zip(keys, stop, strict=True)) for stop in r["stops"]]
    return rows


def convoys(
    client: Any,
    *,
    plate: str,
    since: int,
    until: int,
    within_ms: int,
    gap_ms: int,
    min_occasions: int = MIN_OCCASIONS,
    min_cameras: int = MIN_CAMERAS,
    min_share: float = MIN_SHARE,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Plates that passed the same cameras within ``within_ms`` of ``plate`` on enough of its trips,
    and on at least ``min_share`` of the trips of the less travelled of the two."""
    params = {
        "min_cameras": min_cameras,
        "plate": plate,
        "since": since,
        "until": until,
        "within_ms": within_ms,
        "gap_ms": gap_ms,
        "min_occasions": min_occasions,
        "candidates": CANDIDATES,
    }
    rows = _rows(client, CONVOY_SQL, params)
    if not rows:
        return []
    counts = {
        r["plate"]: int(r["trips"])
        for r in _rows(
            client,
            TRIP_COUNTS_SQL,
            {
                "plates": [r["plate"] for r in rows],
                "since": since,
                "until": until,
                "gap_ms": gap_ms,
            },
        )
    }
    out = []
    for r in rows:
        x_trips = int(r.pop("plate_trips"))
        trips = counts.get(r["plate"], 1)
        share = round(min(1.0, r["occasions"] / max(1, min(x_trips, trips))), 4)
        if share >= min_share:
            out.append({**r, "trips": trips, "share": share})
    out.sort(key=lambda r: (-r["occasions"], -r["share"], -r["passages"], r["plate"]))
    return out[:limit]


def all_convoys(
    client: Any,
    *,
    since: int,
    until: int,
    within_ms: int,
    gap_ms: int,
    min_occasions: int = MIN_OCCASIONS,
    min_cameras: int = MIN_CAMERAS,
    min_share: float = MIN_SHARE,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Every pair of plates travelling together in the window, ranked by support."""
    params = {
        "min_cameras": min_cameras,
        "min_share": min_share,
        "since": since,
        "until": until,
        "within_ms": within_ms,
        "gap_ms": gap_ms,
        "min_occasions": min_occasions,
        "limit": limit,
    }
    return _rows(client, CONVOYS_ALL_SQL, params)


def od_matrix(
    client: Any, *, since: int, until: int, gap_ms: int, by: Literal["site", "zone"] = "site"
) -> list[dict[str, Any]]:
    """Trips per hour (of their start) from origin to destination site or zone."""
    area = {"site": "site", "zone": "zone"}[by]  # a whitelist: the name goes into the SQL
    return _rows(
        client, OD_SQL.replace("{area}", area), {"since": since, "until": until, "gap_ms": gap_ms}
    )


def travel_times(
    client: Any, *, since: int, until: int, gap_ms: int, min_trips: int = 1
) -> list[dict[str, Any]]:
    """Median and p90 seconds between consecutive cameras of the same trip, per camera pair."""
    params = {"since": since, "until": until, "gap_ms": gap_ms, "min_trips": min_trips}
    return _rows(client, TRAVEL_SQL, params)


def refreshed_at(client: Any, kind: Literal["od", "travel"]) -> int | None:
    """When the last successful refresh of the view started (epoch ms), None if it never ran or
    the view does not exist (this ClickHouse has no refreshable views, or 009 is not applied)."""
    try:
        rows = client.query(REFRESHED_SQL, parameters={"view": VIEWS[kind]}).result_rows
    except Exception:  # no system.view_refreshes: a ClickHouse older than refreshable views
        return None
    return int(rows[0][0]) if rows else None


def od_from_view(
    client: Any, *, since: int, until: int, by: Literal["site", "zone"] = "site"
) -> list[dict[str, Any]]:
    """od_matrix with the default gap, from the od_hourly view (as of its last refresh)."""
    return _rows(client, OD_VIEW_SQL, {"since": since, "until": until, "by": by})


def travel_times_from_view(
    client: Any, *, since: int, until: int, min_trips: int = 1
) -> list[dict[str, Any]]:
    """travel_times with the default gap, from the travel_times view (as of its last refresh)."""
    params = {"since": since, "until": until, "min_trips": min_trips}
    return _rows(client, TRAVEL_VIEW_SQL, params)


def _site(site: str | None) -> tuple[str, dict[str, Any]]:
    if site is None:
        return "1", {}
    return "site = {site:String}", {"site": site}


def dwell(
    client: Any, *, since: int, until: int, now: int, limit_s: float, site: str | None = None
) -> list[dict[str, Any]]:
    """Per site: stays, vehicles still inside, median and p90 stay, overstays past ``limit_s``."""
    cond, extra = _site(site)
    params = {"since": since, "until": until, "now": now, "limit_s": limit_s, **extra}
    return _rows(client, DWELL_SQL.replace("{site_filter}", cond), params)


def overstays(
    client: Any,
    *,
    since: int,
    until: int,
    now: int,
    limit_s: float,
    site: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Stays longer than ``limit_s`` (closed, or still open at ``now``), longest first."""
    cond, extra = _site(site)
    params = {"since": since, "until": until, "now": now, "limit_s": limit_s, "limit": limit}
    return _rows(client, OVERSTAYS_SQL.replace("{site_filter}", cond), {**params, **extra})


def anomalies(
    client: Any, *, since: int, until: int, kind: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The clone detector's anomalies in the range, newest first."""
    cond = "1" if kind is None else "kind = {kind:String}"
    params = {"since": since, "until": until, "limit": limit, "kind": kind or ""}
    return _rows(client, ANOMALIES_SQL.replace("{kind_filter}", cond), params)
