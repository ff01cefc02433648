-- Issue 16: origin-destination per hour and travel times between camera pairs as refreshable
-- materialized views. An incremental view sees one inserted block at a time and a trip needs
-- each plate's previous passage; a refreshable view re-runs its SELECT over the whole of
-- plate_events every ${refresh_minutes} minutes (PLATESTREAM_SINK_INVESTIGATIONS_REFRESH_MINUTES)
-- and swaps the result into its target table atomically, so the previous passage is always there.
--
-- The trip logic is that of services/api/investigations.py (PASSAGES, OD_SQL, TRAVEL_SQL) with the
-- API's default gap of 1800 s (VIEW_GAP_MS there): a gap longer than that between two passages of
-- one plate starts a new trip. Written out here because a migration is frozen once applied
-- (checksummed); tests/investigate/test_od_views.py checks both give the same answer.
--
-- od_hourly: trips per hour of their start, from origin to destination, once by site and once
-- by zone. travel_times: per hour of arrival and camera pair, the number of hops and the
-- quantilesExact(0.5, 0.9) state of their seconds, so any range of hours merges into the exact
-- median and p90 (quantilesExactMerge) the live query gives; the state holds every hop's time
-- (8 bytes a hop). Both tables expire with the passages they summarise (plate_events' TTL on the
-- partition column); a refresh rebuilds them from what plate_events still holds anyway.

CREATE TABLE IF NOT EXISTS ${db}.od_hourly
(
    hour DateTime('UTC'),
    by LowCardinality(String),
    origin String,
    destination String,
    trips SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ${aggregating}()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, by, origin, destination)
${ttl:plate_events:hour}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.travel_times
(
    hour DateTime('UTC'),
    from_camera String,
    to_camera String,
    trips SimpleAggregateFunction(sum, UInt64),
    seconds_q AggregateFunction(quantilesExact(0.5, 0.9), Int64)
)
ENGINE = ${aggregating}()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, from_camera, to_camera)
${ttl:plate_events:hour}
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.od_hourly_refresh
REFRESH EVERY ${refresh_minutes} MINUTE TO ${db}.od_hourly AS
SELECT toStartOfHour(fromUnixTimestamp64Milli(start_ms, 'UTC')) AS hour, k.1 AS by,
    k.2 AS origin, k.3 AS destination, count() AS trips
FROM (
    SELECT plate, trip, min(t) AS start_ms, argMin(site, t) AS o_site, argMax(site, t) AS d_site,
        argMin(zone, t) AS o_zone, argMax(zone, t) AS d_zone
    FROM (
        SELECT plate, t, site, zone,
            sum(new_trip) OVER (PARTITION BY plate ORDER BY t ROWS UNBOUNDED PRECEDING) AS trip
        FROM (
            SELECT plate, t, site, zone,
                if(row_number() OVER w = 1 OR t - lagInFrame(t) OVER w > 1800000, 1, 0) AS new_trip
            FROM (
                SELECT plate, toUnixTimestamp64Milli(ts) AS t,
                    ifNull(toString(site), '') AS site, ifNull(toString(zone), '') AS zone
                FROM ${db}.plate_events FINAL
            )
            WINDOW w AS (PARTITION BY plate ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
    )
    GROUP BY plate, trip
)
ARRAY JOIN [('site', o_site, d_site), ('zone', o_zone, d_zone)] AS k
GROUP BY hour, by, origin, destination
SETTINGS do_not_merge_across_partitions_select_final = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.travel_times_refresh
REFRESH EVERY ${refresh_minutes} MINUTE TO ${db}.travel_times AS
SELECT toStartOfHour(fromUnixTimestamp64Milli(t, 'UTC')) AS hour, prev_camera AS from_camera,
    camera_id AS to_camera, count() AS trips, quantilesExactState(0.5, 0.9)(dt) AS seconds_q
FROM (
    SELECT camera_id, t, trip, lagInFrame(camera_id) OVER w AS prev_camera,
        lagInFrame(trip) OVER w AS prev_trip, t - lagInFrame(t) OVER w AS dt,
        row_number() OVER w AS n
    FROM (
        SELECT plate, camera_id, t,
            sum(new_trip) OVER (PARTITION BY plate ORDER BY t ROWS UNBOUNDED PRECEDING) AS trip
        FROM (
            SELECT plate, camera_id, t,
                if(row_number() OVER w = 1 OR t - lagInFrame(t) OVER w > 1800000, 1, 0) AS new_trip
            FROM (
                SELECT plate, toString(camera_id) AS camera_id, toUnixTimestamp64Milli(ts) AS t
                FROM ${db}.plate_events FINAL
            )
            WINDOW w AS (PARTITION BY plate ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
    )
    WINDOW w AS (PARTITION BY plate ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WHERE n > 1 AND trip = prev_trip AND camera_id != prev_camera
GROUP BY hour, from_camera, to_camera
SETTINGS do_not_merge_across_partitions_select_final = 1;
