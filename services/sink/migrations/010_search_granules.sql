-- Search indexes rebuilt with 256-row granules, and the superseded-versions table (issue 14).
--
-- A search reads a few key ranges of each table (one plate, a set of variants, a set of grams)
-- and ClickHouse reads a whole granule per range: with 003's 8,192-row granules a fuzzy search
-- that resolved to 1,300 plates decompressed 1,300 granules of every result column (~10 M cells)
-- to return 50 rows. With 256 rows per granule the same search reads 32 times less; the price is
-- a primary index 32 times larger (for plate_event_index at 10 M events: ~40 K marks, a few MiB in
-- memory) and slower merges. Measured in docs/api.md ("With fine granules").
--
-- plate_event_superseded  (event_id, version) of every version a newer one replaced: a row of
--                         version v > 0 marks versions 0 .. v-1 of its event (the alias is
--                         kept out of the query that reads version: in ClickHouse a SELECT alias
--                         shadows the column of that name). Corrections are
--                         rare, so the table is small and a search drops superseded rows with one
--                         NOT IN over it, in the same query (003's plate_event_versions needed a
--                         second round trip per page, and is dropped here).
--
-- The tables are dropped and rebuilt from plate_events (the projection of the event log, itself
-- rebuilt by replay): while this runs, searches answer 503. Every statement can be re-run.
-- TTLs are those of 006/007 (the dictionary from last_seen, the event index by purpose).

DROP VIEW IF EXISTS ${db}.plate_event_versions_mv;
DROP TABLE IF EXISTS ${db}.plate_event_versions;

CREATE TABLE IF NOT EXISTS ${db}.plate_event_superseded
(
    event_id String,
    version UInt32,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing}(inserted_at)
ORDER BY (event_id, version)
${ttl:plate_events:inserted_at}
${fine_settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_event_superseded_mv
TO ${db}.plate_event_superseded AS
SELECT event_id, v AS version, now64(3) AS inserted_at
FROM (SELECT event_id, range(version) AS older FROM ${db}.plate_events WHERE version > 0)
ARRAY JOIN older AS v;

INSERT INTO ${db}.plate_event_superseded
SELECT event_id, v, now64(3)
FROM (SELECT event_id, range(version) AS older FROM ${db}.plate_events WHERE version > 0)
ARRAY JOIN older AS v;

DROP VIEW IF EXISTS ${db}.plate_event_index_mv;
DROP TABLE IF EXISTS ${db}.plate_event_index;

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
${fine_settings};

${purpose_ttl:plate_event_index:plate_events:plate_events_no_hit:ts:empty(watchlist_hits) AND access_status != 'watchlisted' AND correction_id IS NULL};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_event_index_mv
TO ${db}.plate_event_index AS
SELECT plate, ts, event_id, version, camera_id, confidence, site, zone, direction, vehicle_type,
    vehicle_color, watchlist_hits, camera_name, vehicle_make, vehicle_model, lane, read_count,
    access_status, best_crop_key, correction_id, source, lat, lon, now64(3) AS inserted_at
FROM ${db}.plate_events;

INSERT INTO ${db}.plate_event_index
SELECT plate, ts, event_id, version, camera_id, confidence, site, zone, direction, vehicle_type,
    vehicle_color, watchlist_hits, camera_name, vehicle_make, vehicle_model, lane, read_count,
    access_status, best_crop_key, correction_id, source, lat, lon, now64(3)
FROM ${db}.plate_events;

DROP VIEW IF EXISTS ${db}.plate_dictionary_mv;
DROP TABLE IF EXISTS ${db}.plate_dictionary;

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
${fine_settings};

${alter_ttl:plate_dictionary:plate_events:last_seen};

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

INSERT INTO ${db}.plate_dictionary
SELECT plate, any(translate(plate, 'ODQILTBZSG', '0001118256')), min(ts), max(ts), uniqState(event_id),
    groupUniqArray(toString(camera_id)), now64(3)
FROM ${db}.plate_events
GROUP BY plate;

DROP VIEW IF EXISTS ${db}.plate_grams_mv;
DROP TABLE IF EXISTS ${db}.plate_grams;

CREATE TABLE IF NOT EXISTS ${db}.plate_grams
(
    gram String,
    plate String,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing}(inserted_at)
ORDER BY (gram, plate)
${ttl:plate_events:inserted_at}
${fine_settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_grams_mv
TO ${db}.plate_grams AS
SELECT arrayJoin(arrayDistinct(ngrams(concat('^', plate, '$'), 3))) AS gram, plate, now64(3) AS inserted_at
FROM ${db}.plate_events;

INSERT INTO ${db}.plate_grams
SELECT arrayJoin(arrayDistinct(ngrams(concat('^', plate, '$'), 3))), plate, now64(3)
FROM (SELECT DISTINCT plate FROM ${db}.plate_events);

DROP VIEW IF EXISTS ${db}.plate_variants_mv;
DROP TABLE IF EXISTS ${db}.plate_variants;

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
${fine_settings};

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
