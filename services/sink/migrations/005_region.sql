-- The state or province of a plate's country (camera_event.region, plate_event.region), next to
-- the country, which is an ISO 3166-1 alpha-2 code from this version on (platestream/countries.py;
-- rows written before keep the device's text, e.g. 'POL' or 'us-in').

ALTER TABLE ${db}.plate_events ADD COLUMN IF NOT EXISTS region LowCardinality(Nullable(String)) AFTER country;

ALTER TABLE ${db}.camera_events ADD COLUMN IF NOT EXISTS region LowCardinality(Nullable(String)) AFTER country;
