-- Retention on every table, counted from the time the table is partitioned by.
--
-- 001 counted the projection tables' TTL from inserted_at while partitioning them by the event's
-- ts: a month's partition could never be dropped whole, a replay restarted the clock of old rows,
-- and an ANPR record's retention is counted from when the plate was seen, not from when a sink
-- wrote it. From here every partitioned table's TTL is on its partition column (ts), and the
-- derived tables follow the event time of what they summarise:
--   plate_first_last_seen  the plate's last passage (had no TTL: a plate stayed forever)
--   plate_dictionary       the plate's last passage (last_seen)
--   plate_event_index      the event's ts, like plate_events (a search never finds an expired event)
--   anomalies, corrections had no TTL: now PLATESTREAM_SINK_RETENTION_DAYS_ANOMALIES/_CORRECTIONS
--   camera_hourly_counts   already on its partition column (hour)
--   plate_variants, plate_grams, plate_event_versions  unpartitioned, no event time: inserted_at
--                          (refreshed each time the plate is seen again) as before
-- A camera whose clock is behind by more than the retention has its events expire at the next
-- merge (ingest only refuses times outside 2000..2100): set the cameras' clocks by NTP.
-- ${alter_ttl:...} renders nothing for a retention of 0 days (kept forever). Each ALTER
-- materializes the TTL on the existing parts (a mutation: it reads the time column once).

${alter_ttl:plate_events:plate_events:ts};
${alter_ttl:plate_reads:plate_reads:ts};
${alter_ttl:camera_events:camera_events:ts};
${alter_ttl:alerts:alerts:ts};
${alter_ttl:alert_deliveries:alert_deliveries:ts};
${alter_ttl:camera_status:camera_status:ts};
${alter_ttl:corrections:corrections:ts};
${alter_ttl:audit_log:audit_log:ts};
${alter_ttl:anomalies:anomalies:ts};
${alter_ttl:plate_first_last_seen:plate_events:finalizeAggregation(last_seen)};
${alter_ttl:plate_dictionary:plate_events:last_seen};
${alter_ttl:plate_event_index:plate_events:ts};
