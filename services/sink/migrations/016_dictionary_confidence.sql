-- Each plate's best read confidence in the dictionaries too (issue 14).
--
-- plate_dictionary           ``best_confidence``: the highest confidence of any event of the plate
-- plate_dictionary_reversed  (an upper bound of what its rows hold), as plate_variants keeps it
--                            since 015. A page sorted by score is ordered by (score, confidence);
--                            fuzzy searches with a time window and wildcards resolve through the
--                            dictionaries, which kept no confidence, so such a page was fetched from
--                            every plate of the score levels it reached (for a wildcard, every
--                            plate: all score 0). With the bound the API fetches it from the plates
--                            that come first (services/api/plate_pages.py).
--
-- The column is added, the views are made again with it, and the aggregates of every plate still
-- in plate_events are inserted again: each aggregate here (min, max, uniq, the cameras' set) gives
-- the same value when a plate's rows are merged twice, so the new rows only add the confidence.
-- Rows stored before hold 0 until they merge with them; a plate with no event left has no row to
-- show. Every statement can be re-run.

ALTER TABLE ${db}.plate_dictionary
    ADD COLUMN IF NOT EXISTS best_confidence SimpleAggregateFunction(max, Float32) AFTER last_seen;

ALTER TABLE ${db}.plate_dictionary_reversed
    ADD COLUMN IF NOT EXISTS best_confidence SimpleAggregateFunction(max, Float32) AFTER last_seen;

DROP VIEW IF EXISTS ${db}.plate_dictionary_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_dictionary_mv
TO ${db}.plate_dictionary AS
SELECT
    plate,
    any(translate(plate, 'ODQILTBZSG', '0001118256')) AS plate_skeleton,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    max(confidence) AS best_confidence,
    uniqState(event_id) AS passages,
    groupUniqArray(toString(camera_id)) AS cameras,
    now64(3) AS inserted_at
FROM ${db}.plate_events
GROUP BY plate;

DROP VIEW IF EXISTS ${db}.plate_dictionary_reversed_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_dictionary_reversed_mv
TO ${db}.plate_dictionary_reversed AS
SELECT reverseUTF8(plate) AS plate_reversed, plate, min(ts) AS first_seen, max(ts) AS last_seen,
    max(confidence) AS best_confidence, now64(3) AS inserted_at
FROM ${db}.plate_events
GROUP BY plate;

INSERT INTO ${db}.plate_dictionary
    (plate, plate_skeleton, first_seen, last_seen, best_confidence, passages, cameras, inserted_at)
SELECT plate, any(translate(plate, 'ODQILTBZSG', '0001118256')), min(ts), max(ts), max(confidence),
    uniqState(event_id), groupUniqArray(toString(camera_id)), now64(3)
FROM ${db}.plate_events
GROUP BY plate;

INSERT INTO ${db}.plate_dictionary_reversed
    (plate_reversed, plate, first_seen, last_seen, best_confidence, inserted_at)
SELECT reverseUTF8(plate), plate, min(ts), max(ts), max(confidence), now64(3)
FROM ${db}.plate_events
GROUP BY plate;
