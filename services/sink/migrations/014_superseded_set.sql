-- The superseded versions held in memory, so a search page checks them without a subquery (issue 14).
--
-- plate_event_superseded_set  (event_id, version) of every version a correction replaced, as
--                             plate_event_superseded (010) holds them, for the page query's
--                             ``(event_id, version) IN plate_event_superseded_set``. On a single
--                             server it is a Set table: in memory (and on disk for restarts),
--                             fed by a view on what 010's view writes to plate_event_superseded
--                             (one rule for which versions are superseded), and read without
--                             planning a subquery. A search page at 1M bench events: 6.1 -> 4.9
--                             ms of ClickHouse endpoint CPU (docs/api.md, "Search tables in one
--                             part, and the superseded set"). A Set is one server's: a replica
--                             that fetched a part never ran the view, so with the replicated
--                             engine it is a Merge table over plate_event_superseded (read whole
--                             per query, as 010's subquery did). A Set keeps what it was given:
--                             an erased event's ids stay in it (ids only, no plate) until a
--                             rebuild drops it.
--
-- ${local} marks statements made only on a single server (the view and the backfill of the Set).

CREATE TABLE IF NOT EXISTS ${db}.plate_event_superseded_set
(
    event_id String,
    version UInt32
)
ENGINE = ${set_or_merge:plate_event_superseded};

${local} CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.plate_event_superseded_set_mv
TO ${db}.plate_event_superseded_set AS
SELECT event_id, version FROM ${db}.plate_event_superseded;

${local} INSERT INTO ${db}.plate_event_superseded_set
SELECT event_id, version FROM ${db}.plate_event_superseded;
