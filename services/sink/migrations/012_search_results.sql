-- Search reads fewer bytes per hit, and suffix wildcards read a key range (issue 14).
--
-- plate_event_index.result  every field a search answers that no search filters on, as one JSON
--                           array (the order of services.api.search.RESULT_COLUMN), computed by
--                           ClickHouse on insert (MATERIALIZED: the view, a replay and an
--                           erasure's re-insert fill it like every other column). A page of a
--                           pattern that resolved to 50 plates reads 50 key ranges; it read them in
--                           24 columns and now reads them in 6, and the search tables'
--                           compressed blocks are 4-16 KiB instead of 64 KiB-1 MiB, so a 256-row
--                           granule no longer decompresses a block many times its size. Measured
--                           at 1M events (51 plates, all columns): 37.6 -> 11.6 ms; the index grows
--                           from 25 to 55 MiB (docs/api.md).
-- plate_dictionary_reversed the dictionary's plates with their first/last seen, ordered by the
--                           reversed plate: a pattern that ends in characters (*1234, A*123) is a
--                           key range here, where the 3-grams needed a posting-list intersection
--                           and a lookup of every plate it found in the dictionary.
--
-- Both are filled from plate_events, so a rebuild or a replay fills them like the other search
-- tables. Every statement can be re-run; MODIFY SETTING takes effect for new parts and OPTIMIZE
-- rewrites the existing ones.

ALTER TABLE ${db}.plate_event_index ADD COLUMN IF NOT EXISTS result String MATERIALIZED
    toJSONString(tuple(camera_id, camera_name, site, zone, direction, vehicle_type, vehicle_color, vehicle_make,
        vehicle_model, lane, read_count, watchlist_hits, access_status, best_crop_key, correction_id,
        source, lat, lon));

ALTER TABLE ${db}.plate_event_index MATERIALIZE COLUMN result SETTINGS mutations_sync = 2;

ALTER TABLE ${db}.plate_event_index MODIFY SETTING ${small_blocks};

ALTER TABLE ${db}.plate_dictionary MODIFY SETTING ${small_blocks};

ALTER TABLE ${db}.plate_variants MODIFY SETTING ${small_blocks};

ALTER TABLE ${db}.plate_grams MODIFY SETTING ${small_blocks};

OPTIMIZE TABLE ${db}.plate_event_index FINAL;

OPTIMIZE TABLE ${db}.plate_dictionary FINAL;

OPTIMIZE TABLE ${db}.plate_variants FINAL;

OPTIMIZE TABLE ${db}.plate_grams FINAL;

CREATE TABLE IF NOT EXISTS ${db}.plate_dictionary_reversed
(
    plate_reversed String,
    plate SimpleAggregateFunction(any, String),
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    inserted_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ${aggregating}()
ORDER BY plate_reversed
${fine_settings}, ${small_blocks};

${alter_ttl:plate_dictionary_reversed:plate_events:last_seen};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_dictionary_reversed_mv
TO ${db}.plate_dictionary_reversed AS
SELECT reverseUTF8(plate) AS plate_reversed, plate, min(ts) AS first_seen, max(ts) AS last_seen,
    now64(3) AS inserted_at
FROM ${db}.plate_events
GROUP BY plate;

INSERT INTO ${db}.plate_dictionary_reversed
SELECT reverseUTF8(plate), plate, min(ts), max(ts), now64(3)
FROM ${db}.plate_events
GROUP BY plate;
