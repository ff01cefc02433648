-- Investigations: the anomalies of the live clone detector (anpr.anomalies.v1), one row per
-- anomaly with both sightings flattened into first_* and second_* columns.
--
-- Kept without TTL, like corrections: an anomaly is a lead an investigator may come back to long
-- after the passages themselves have expired. Convoys, journeys, origin-destination and dwell are
-- queries over plate_events (services/api/investigations.py, docs/investigations.md): they need
-- each plate's previous passage, which a materialized view (one inserted block at a time) does
-- not see.

CREATE TABLE IF NOT EXISTS ${db}.anomalies
(
    anomaly_id String,
    kind LowCardinality(String),
    plate String,
    camera_id LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    distance_km Float64,
    seconds_apart Float64,
    speed_kmh Nullable(Float64),
    limit_kmh Float64,
    min_travel_s Nullable(Float64),
    reason String,
    first_event_id String,
    first_camera_id LowCardinality(String),
    first_plate String,
    first_ts DateTime64(3, 'UTC'),
    first_confidence Float32,
    first_site LowCardinality(Nullable(String)),
    first_lat Float64,
    first_lon Float64,
    second_event_id String,
    second_camera_id LowCardinality(String),
    second_plate String,
    second_ts DateTime64(3, 'UTC'),
    second_confidence Float32,
    second_site LowCardinality(Nullable(String)),
    second_lat Float64,
    second_lon Float64,
    event_logged_at Nullable(DateTime64(3, 'UTC')),
    emitted_at DateTime64(3, 'UTC'),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX plate_bf plate TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (toStartOfDay(ts), anomaly_id)
${settings};
