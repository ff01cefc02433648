-- Retention by purpose (issue 17 item 1), on top of 006's one retention per table.
--
-- A passage that matched nothing is kept PLATESTREAM_SINK_RETENTION_DAYS_PLATE_EVENTS_NO_HIT days
-- (default 90); a passage that hit a watchlist (watchlist_hits not empty, access_status
-- 'watchlisted') or that a user corrected or confirmed in review (correction_id set) is kept
-- PLATESTREAM_SINK_RETENTION_DAYS_PLATE_EVENTS days (default 365), as before. Both rules count
-- from ts, the partition column, like 006. The search index (plate_event_index) carries the same
-- columns and follows the same two rules, so a search never finds an expired passage.
-- A correction writes a new version of the event with correction_id set: that version is kept
-- the long time, the earlier uncorrected version goes after the short one (the latest version,
-- the one every query reads, stays).
-- Not covered by the rule (they hold no hit): plate_reads (own, shorter retention), camera_events,
-- and the per-plate aggregates plate_first_last_seen / plate_dictionary (follow plate_events'
-- long days from the last passage). A short retention of 0, or one not shorter than the long
-- one, renders only the long rule. Each ALTER materializes the TTL on the existing parts.

${purpose_ttl:plate_events:plate_events:plate_events_no_hit:ts:empty(watchlist_hits) AND access_status != 'watchlisted' AND correction_id IS NULL};
${purpose_ttl:plate_event_index:plate_events:plate_events_no_hit:ts:empty(watchlist_hits) AND access_status != 'watchlisted' AND correction_id IS NULL};
