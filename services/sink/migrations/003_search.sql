-- Search indexes over plate_events, kept by materialized views (fed by every insert the sink or a
-- replay makes into plate_events) and rebuilt by replay like every projection.
--
-- plate_dictionary   the distinct plates ever read (any version of an event), ordered by plate:
--                    first/last seen, passages, cameras. Prefix ranges and dictionary scans.
-- plate_variants     SymSpell deletion variants of each plate's confusable-folded skeleton
--                    (0, 1 and 2 characters deleted), ordered by variant: a fuzzy search within
--                    k <= 2 edits is a few primary-key lookups. Skeletons longer than 12 characters
--                    are not indexed (the API scans the dictionary for queries that could match them).
-- plate_grams        3-grams of '^' + plate + '$', ordered by gram: wildcard patterns resolve to
--                    the plates holding every gram of their literal runs.
-- plate_event_index  the search and result columns of every event version, ordered by plate then
--                    time: a page of a plate search is read by key, in one pass.
-- plate_event_versions  (event_id, version) ordered by event id: the check that a row found by
--                    plate is its event's latest version (corrections) is a key lookup too.
--
-- The views read each inserted block as it comes (no DISTINCT: in a view it cost more than the
-- duplicate rows it saves; the engines collapse them). Every table is idempotent under repeated inserts (ReplacingMergeTree on the whole identity, or
-- min/max/uniq/groupUniqArray states), so an at-least-once sink, a replay or the backfill at the
-- end of this file running twice leaves the same answers. Retention follows plate_events (counted
-- from the time the row was inserted, refreshed each time a plate is seen again).

CREATE TABLE IF NOT EXISTS ${db}.plate_dictionary
(
    plate String,
    plate_skeleton SimpleAggregateFunction(any, String),
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    passages AggregateFunction(uniq, String),
    cameras SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    inserted_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ${aggregating}()
ORDER BY plate
${ttl:plate_events:inserted_at}
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_dictionary_mv
TO ${db}.plate_dictionary AS
SELECT
    plate,
    any(translate(plate, 'ODQILTBZSG', '0001118256')) AS plate_skeleton,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    uniqState(event_id) AS passages,
    groupUniqArray(toString(camera_id)) AS cameras,
    now64(3) AS inserted_at
FROM ${db}.plate_events
GROUP BY plate;

CREATE TABLE IF NOT EXISTS ${db}.plate_variants
(
    variant String,
    plate String,
    dels UInt8,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing}(inserted_at)
ORDER BY (variant, plate)
${ttl:plate_events:inserted_at}
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_variants_mv
TO ${db}.plate_variants AS
SELECT v.1 AS variant, plate, v.2 AS dels, now64(3) AS inserted_at
FROM
(
    SELECT plate, translate(plate, 'ODQILTBZSG', '0001118256') AS s, lengthUTF8(s) AS n
    FROM ${db}.plate_events
    WHERE lengthUTF8(plate) <= 12
)
ARRAY JOIN arrayDistinct(arrayConcat(
    [(s, toUInt8(0))],
    arrayMap(i -> (concat(substringUTF8(s, 1, i - 1), substringUTF8(s, i + 1)), toUInt8(1)), range(1, n + 1)),
    arrayFlatten(arrayMap(i -> arrayMap(j -> (concat(substringUTF8(s, 1, i - 1),
        substringUTF8(s, i + 1, j - i - 1), substringUTF8(s, j + 1)), toUInt8(2)), range(i + 1, n + 1)),
        range(1, n + 1)))
)) AS v;

CREATE TABLE IF NOT EXISTS ${db}.plate_grams
(
    gram String,
    plate String,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing}(inserted_at)
ORDER BY (gram, plate)
${ttl:plate_events:inserted_at}
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_grams_mv
TO ${db}.plate_grams AS
SELECT arrayJoin(arrayDistinct(ngrams(concat('^', plate, '$'), 3))) AS gram, plate, now64(3) AS inserted_at
FROM ${db}.plate_events;

CREATE TABLE IF NOT EXISTS ${db}.plate_event_index
(
    plate String,
    ts DateTime64(3, 'UTC'),
    event_id String,
    version UInt32,
    camera_id LowCardinality(String),
    confidence Float32,
    site LowCardinality(Nullable(String)),
    zone LowCardinality(Nullable(String)),
    direction LowCardinality(Nullable(String)),
    vehicle_type LowCardinality(Nullable(String)),
    vehicle_color LowCardinality(Nullable(String)),
    watchlist_hits Array(String),
    camera_name LowCardinality(Nullable(String)),
    vehicle_make LowCardinality(Nullable(String)),
    vehicle_model Nullable(String),
    lane Nullable(Int32),
    read_count UInt32,
    access_status LowCardinality(String),
    best_crop_key Nullable(String),
    correction_id Nullable(String),
    source LowCardinality(String),
    lat Nullable(Float64),
    lon Nullable(Float64),
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing}(inserted_at)
ORDER BY (plate, ts, event_id, version)
${ttl:plate_events:inserted_at}
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_event_index_mv
TO ${db}.plate_event_index AS
SELECT plate, ts, event_id, version, camera_id, confidence, site, zone, direction, vehicle_type,
    vehicle_color, watchlist_hits, camera_name, vehicle_make, vehicle_model, lane, read_count,
    access_status, best_crop_key, correction_id, source, lat, lon, now64(3) AS inserted_at
FROM ${db}.plate_events;

CREATE TABLE IF NOT EXISTS ${db}.plate_event_versions
(
    event_id String,
    version UInt32,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing}(inserted_at)
ORDER BY (event_id, version)
${ttl:plate_events:inserted_at}
${settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_event_versions_mv
TO ${db}.plate_event_versions AS
SELECT event_id, version, now64(3) AS inserted_at
FROM ${db}.plate_events;

-- Backfill from what plate_events already holds (a database migrated before this file). Rows that
-- arrive while it runs reach the tables twice, which the engines above make harmless.
INSERT INTO ${db}.plate_event_index
SELECT plate, ts, event_id, version, camera_id, confidence, site, zone, direction, vehicle_type,
    vehicle_color, watchlist_hits, camera_name, vehicle_make, vehicle_model, lane, read_count,
    access_status, best_crop_key, correction_id, source, lat, lon, now64(3)
FROM ${db}.plate_events;

INSERT INTO ${db}.plate_event_versions
SELECT event_id, version, now64(3)
FROM ${db}.plate_events;

INSERT INTO ${db}.plate_dictionary
SELECT plate, any(translate(plate, 'ODQILTBZSG', '0001118256')), min(ts), max(ts), uniqState(event_id),
    groupUniqArray(toString(camera_id)), now64(3)
FROM ${db}.plate_events
GROUP BY plate;

INSERT INTO ${db}.plate_grams
SELECT arrayJoin(arrayDistinct(ngrams(concat('^', plate, '$'), 3))), plate, now64(3)
FROM (SELECT DISTINCT plate FROM ${db}.plate_events);

INSERT INTO ${db}.plate_variants
SELECT v.1, plate, v.2, now64(3)
FROM
(
    SELECT DISTINCT plate, translate(plate, 'ODQILTBZSG', '0001118256') AS s, lengthUTF8(s) AS n
    FROM ${db}.plate_events
    WHERE lengthUTF8(plate) <= 12
)
ARRAY JOIN arrayDistinct(arrayConcat(
    [(s, toUInt8(0))],
    arrayMap(i -> (concat(substringUTF8(s, 1, i - 1), substringUTF8(s, i + 1)), toUInt8(1)), range(1, n + 1)),
    arrayFlatten(arrayMap(i -> arrayMap(j -> (concat(substringUTF8(s, 1, i - 1),
        substringUTF8(s, i + 1, j - i - 1), substringUTF8(s, j + 1)), toUInt8(2)), range(i + 1, n + 1)),
        range(1, n + 1)))
)) AS v;
