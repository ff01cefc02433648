-- Overstays (issue 16): `platestream investigate overstays --emit` writes anomalies of kind
-- overstay whose record carries the site's stay limit (limit_s) and, for a stay that ended, the
-- exit time (exit_ts); both are null for clones and misreads and on rows written before this
-- version (for those, seconds_apart and second_ts still hold the stay and the exit sighting).

ALTER TABLE ${db}.anomalies ADD COLUMN IF NOT EXISTS limit_s Nullable(Float64) AFTER min_travel_s;

ALTER TABLE ${db}.anomalies ADD COLUMN IF NOT EXISTS exit_ts Nullable(DateTime64(3, 'UTC')) AFTER limit_s;
