-- Materialized views fed by inserts into plate_events, and the latest-version view.
--
-- Counts use uniq(event_id) states, not count(): an at-least-once upstream and correction
-- versions insert the same event more than once, and uniq counts it once (exact up to 65,536
-- distinct events per group, approximate above).

CREATE TABLE IF NOT EXISTS ${db}.camera_hourly_counts
(
    camera_id LowCardinality(String),
    hour DateTime('UTC'),
    direction LowCardinality(String),
    vehicle_type LowCardinality(String),
    passages AggregateFunction(uniq, String)
)
ENGINE = ${aggregating}()
PARTITION BY toYYYYMM(hour)
ORDER BY (camera_id, hour, direction, vehicle_type)
${ttl:plate_events:hour}
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.camera_hourly_counts_mv
TO ${db}.camera_hourly_counts AS
SELECT
    camera_id,
    toStartOfHour(ts) AS hour,
    ifNull(direction, 'unknown') AS direction,
    ifNull(vehicle_type, 'unknown') AS vehicle_type,
    uniqState(event_id) AS passages
FROM ${db}.plate_events
GROUP BY camera_id, hour, direction, vehicle_type;

CREATE TABLE IF NOT EXISTS ${db}.plate_first_last_seen
(
    plate String,
    first_seen AggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen AggregateFunction(max, DateTime64(3, 'UTC')),
    first_camera AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
    last_camera AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    passages AggregateFunction(uniq, String)
)
ENGINE = ${aggregating}()
ORDER BY plate
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_first_last_seen_mv
TO ${db}.plate_first_last_seen AS
SELECT
    plate,
    minState(first_seen) AS first_seen,
    maxState(last_seen) AS last_seen,
    argMinState(toString(camera_id), ts) AS first_camera,
    argMaxState(toString(camera_id), ts) AS last_camera,
    uniqState(event_id) AS passages
FROM ${db}.plate_events
GROUP BY plate;

-- The latest version of every plate event (corrections add versions; FINAL keeps the highest).
CREATE VIEW IF NOT EXISTS ${db}.plate_events_latest AS
SELECT * FROM ${db}.plate_events FINAL;
