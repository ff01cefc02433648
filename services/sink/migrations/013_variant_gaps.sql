-- The fuzzy index keeps where each deletion was, so a two-edit search looks up fewer plates (issue 14).
--
-- plate_variants  every deletion variant (0-2 characters deleted) of each plate's skeleton, now
--                 with ``gaps``: where the deleted characters sat, as the number of kept characters
--                 before each (0 for no deletion, g + 1 for one, (g1 + 1) * 16 + g2 + 1 for two),
--                 and ordered by (variant, gaps). Two skeletons within k edits share a variant
--                 whose deletions on both sides fall in the same gaps of it (the alignment of an
--                 edit script of cost k). So a query variant that deleted k characters needs only
--                 the stored rows whose gaps are a part of its own, a handful of exact keys, where
--                 003's index handed over every plate sharing the variant. Two-edit fuzzy at 10M
--                 bench events: a query like D1K1028 read 190,073 rows of 59,143 plates to find
--                 3,607 (docs/api.md). The same deletion at two places (AAB -> AB) is now two rows.
--                 services/api/plate_index.py (``variant_lookup``) builds the query's keys.
--
-- Rebuilt from plate_events, the projection of the event log (itself rebuilt by replay): while
-- this runs, fuzzy searches find fewer plates. Every statement can be re-run. TTL as 010's.

DROP VIEW IF EXISTS ${db}.plate_variants_mv;
DROP TABLE IF EXISTS ${db}.plate_variants;

CREATE TABLE IF NOT EXISTS ${db}.plate_variants
(
    variant String,
    gaps UInt8,
    plate String,
    dels UInt8,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = ${replacing}(inserted_at)
ORDER BY (variant, gaps, plate)
${ttl:plate_events:inserted_at}
${fine_settings}, ${small_blocks};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_variants_mv
TO ${db}.plate_variants AS
SELECT v.1 AS variant, v.3 AS gaps, plate, v.2 AS dels, now64(3) AS inserted_at
FROM
(
    SELECT plate, translate(plate, 'ODQILTBZSG', '0001118256') AS s, lengthUTF8(s) AS n
    FROM ${db}.plate_events
    WHERE lengthUTF8(plate) <= 12
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
SELECT v.1, v.3, plate, v.2, now64(3)
FROM
(
    SELECT DISTINCT plate, translate(plate, 'ODQILTBZSG', '0001118256') AS s, lengthUTF8(s) AS n
    FROM ${db}.plate_events
    WHERE lengthUTF8(plate) <= 12
)
ARRAY JOIN arrayDistinct(arrayConcat(
    [(s, toUInt8(0), toUInt8(0))],
    arrayMap(i -> (concat(substringUTF8(s, 1, i - 1), substringUTF8(s, i + 1)), toUInt8(1), toUInt8(i)),
        range(1, n + 1)),
    arrayFlatten(arrayMap(i -> arrayMap(j -> (concat(substringUTF8(s, 1, i - 1),
        substringUTF8(s, i + 1, j - i - 1), substringUTF8(s, j + 1)), toUInt8(2), toUInt8(i * 16 + j - 1)),
        range(i + 1, n + 1)), range(1, n + 1)))
)) AS v;
