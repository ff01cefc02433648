-- Erasures (issue 17): one row per request on anpr.erasures.v1, written by the sink's erasure
-- loop once it has deleted what the request covers (services/sink/erasure.py). A plate is named
-- by its keyed hash (subject_id), never in clear, so the table is kept for as long as the topic
-- (for ever): it is the record that the erasure was carried out, with what it removed.

CREATE TABLE IF NOT EXISTS ${db}.erasures
(
    erasure_id String,
    scope LowCardinality(String),
    subject_id Nullable(String),
    event_id Nullable(String),
    before_ts DateTime64(3, 'UTC'),
    actor LowCardinality(String),
    purpose LowCardinality(Nullable(String)),
    case_id Nullable(String),
    ts DateTime64(3, 'UTC'),
    executed_at DateTime64(3, 'UTC'),
    rows_deleted Map(String, UInt64),
    images_deleted UInt32,
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64
)
ENGINE = ${replacing}(executed_at)
ORDER BY erasure_id
${settings};
