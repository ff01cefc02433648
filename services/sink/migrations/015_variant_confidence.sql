-- Each plate's best read confidence next to its deletion variants (issue 14).
--
-- plate_variants  013's rows, each with ``best_confidence``: the highest confidence of any event
--                 of the plate, an upper bound of what its rows hold. A fuzzy search sorted by
--                 score orders a page by (score, confidence): with the bound, read in the same
--                 lookup that finds the plates, the API fetches the page from the plates that come
--                 first in that order (services/api/plate_pages.py) instead of from every plate of
--                 the score levels the page reaches. A two-edit fuzzy search at 10M bench events
--                 resolves to a few hundred plates of one level, often, and fetched from all of
--                 them. The engine aggregates now (the maximum confidence, the latest insert time
--                 for the TTL): 013's replacing engine kept a key's last row, whose confidence was
--                 that of the last insert only.
--
-- Rebuilt from plate_events, the projection of the event log (itself rebuilt by replay): while
-- this runs, fuzzy searches find fewer plates. Every statement can be re-run. TTL as 013's.

DROP VIEW IF EXISTS ${db}.plate_variants_mv;
DROP TABLE IF EXISTS ${db}.plate_variants;

CREATE TABLE IF NOT EXISTS ${db}.plate_variants
(
    variant String,
    gaps UInt8,
    plate String,
    dels SimpleAggregateFunction(any, UInt8),  -- 1 or 2 when gaps says so, 0 when it is 0
    best_confidence SimpleAggregateFunction(max, Float32),
    inserted_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ${aggregating}()
ORDER BY (variant, gaps, plate)
${ttl:plate_events:inserted_at}
${fine_settings}, ${small_blocks};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_variants_mv
TO ${db}.plate_variants AS
SELECT v.1 AS variant, v.3 AS gaps, plate, v.2 AS dels, best AS best_confidence, now64(3) AS inserted_at
FROM
(
    SELECT plate, max(confidence) AS best, translate(plate, 'ODQILTBZSG', '0001118256') AS s, lengthUTF8(s) AS n
    FROM ${db}.plate_events
    WHERE lengthUTF8(plate) <= 12
    GROUP BY plate
)
ARRAY JOIN arrayDistinct(arrayConcat(
    [(s, toUInt8(0), toUInt8(0))],
    arrayMap(i -> (concat(substringUTF8(s, 1, i - 1), substringUTF8(s, i + 1)), toUInt8(1), toUInt8(i)),
        range(1, n + 1)),
    arrayFlatten(arrayMap(i -> arrayMap(j -> (concat(substringUTF8(s, 1, i - 1),
        substringUTF8(s, i + 1, j - i - 1), substringUTF8(s, j + 1)), toUInt8(2), toUInt8(i * 16 + j - 1)),
        range(i + 1, n + 1)), range(1, n + 1)))
)) AS v;

INSERT INTO ${db}.plate_variants
SELECT v.1, v.3, plate, v.2, best, now64(3)
FROM
(
    SELECT plate, max(confidence) AS best, translate(plate, 'ODQILTBZSG', '0001118256') AS s, lengthUTF8(s) AS n
    FROM ${db}.plate_events
    WHERE lengthUTF8(plate) <= 12
    GROUP BY plate
)
ARRAY JOIN arrayDistinct(arrayConcat(
    [(s, toUInt8(0), toUInt8(0))],
    arrayMap(i -> (concat(substringUTF8(s, 1, i - 1), substringUTF8(s, i + 1)), toUInt8(1), toUInt8(i)),
        range(1, n + 1)),
    arrayFlatten(arrayMap(i -> arrayMap(j -> (concat(substringUTF8(s, 1, i - 1),
        substringUTF8(s, i + 1, j - i - 1), substringUTF8(s, j + 1)), toUInt8(2), toUInt8(i * 16 + j - 1)),
        range(i + 1, n + 1)), range(1, n + 1)))
)) AS v;
