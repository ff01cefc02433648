-- Projection tables of the event log. One table per topic; every row keeps its source
-- topic/partition/offset (the event index that replay uses) and the time it was inserted.
--
-- Sorting keys: ReplacingMergeTree collapses rows whose whole ORDER BY key is equal, so every
-- key ends in the record's own id; what comes before the id serves the common lookups
-- (a camera over a time range). It also means the leading columns must not change between
-- versions of one id: camera_id and ts of an event are fixed (corrections change the plate,
-- not where or when the passage happened). Plate lookups go through skip indexes (bloom filter
-- for equality, n-grams for substrings and for the confusable-folded skeleton).
--
-- Retention (TTL) counts from inserted_at, not from the device's own timestamp: a camera whose
-- clock is wrong (years in the past) must not have its events dropped the moment they are
-- stored. Kafka's topic retention bounds how old a replayed record can be.
--
-- Placeholders filled by `platestream db migrate`: ${db}, ${replacing}(args),
-- ${aggregating}(), ${ttl:<table>:<column>}, ${settings}.

CREATE TABLE IF NOT EXISTS ${db}.plate_events
(
    event_id String,
    version UInt32,
    camera_id LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    plate String,
    plate_skeleton String MATERIALIZED translate(plate, 'ODQILTBZSG', '0001118256'),
    confidence Float32,
    plate_format LowCardinality(Nullable(String)),
    country LowCardinality(Nullable(String)),
    lane Nullable(Int32),
    first_seen DateTime64(3, 'UTC'),
    last_seen DateTime64(3, 'UTC'),
    read_count UInt32,
    variants Array(String),
    read_ids Array(String),
    best_read_id String,
    best_crop_key Nullable(String),
    image_keys Array(String),
    image_kinds Array(LowCardinality(String)),
    source LowCardinality(String),
    direction LowCardinality(Nullable(String)),
    vehicle_type LowCardinality(Nullable(String)),
    vehicle_color LowCardinality(Nullable(String)),
    vehicle_make LowCardinality(Nullable(String)),
    vehicle_model Nullable(String),
    camera_name LowCardinality(Nullable(String)),
    site LowCardinality(Nullable(String)),
    zone LowCardinality(Nullable(String)),
    lat Nullable(Float64),
    lon Nullable(Float64),
    heading Nullable(Float32),
    access_status LowCardinality(String),
    watchlist_hits Array(String),
    correction_id Nullable(String),
    received_at Nullable(DateTime64(3, 'UTC')),
    emitted_at DateTime64(3, 'UTC'),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX plate_bf plate TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX plate_ngram plate TYPE ngrambf_v1(3, 8192, 3, 7) GRANULARITY 1,
    INDEX skeleton_ngram plate_skeleton TYPE ngrambf_v1(3, 8192, 3, 7) GRANULARITY 1,
    INDEX offset_minmax offset TYPE minmax GRANULARITY 1
)
ENGINE = ${replacing}(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (camera_id, toStartOfHour(ts), event_id)
${ttl:plate_events:inserted_at}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.plate_reads
(
    read_id String,
    frame_id String,
    camera_id LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    plate String,
    plate_skeleton String MATERIALIZED translate(plate, 'ODQILTBZSG', '0001118256'),
    plate_raw Nullable(String),
    confidence Float32,
    char_confidences Array(Float32),
    candidate_plates Array(String),
    candidate_confidences Array(Float32),
    plate_format LowCardinality(Nullable(String)),
    plate_box Array(Int32),
    detection_confidence Nullable(Float32),
    vehicle_box Array(Int32),
    vehicle_type LowCardinality(Nullable(String)),
    crop_key Nullable(String),
    direction LowCardinality(Nullable(String)),
    lane Nullable(Int32),
    detector LowCardinality(Nullable(String)),
    inference_ms Nullable(Float32),
    received_at Nullable(DateTime64(3, 'UTC')),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX plate_bf plate TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX plate_ngram plate TYPE ngrambf_v1(3, 8192, 3, 7) GRANULARITY 1,
    INDEX offset_minmax offset TYPE minmax GRANULARITY 1
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (camera_id, toStartOfHour(ts), read_id)
${ttl:plate_reads:inserted_at}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.camera_events
(
    event_id String,
    source LowCardinality(String),
    camera_id LowCardinality(String),
    device_id Nullable(String),
    device_event_id Nullable(String),
    event_type LowCardinality(Nullable(String)),
    ts DateTime64(3, 'UTC'),
    ts_local Nullable(String),
    received_at DateTime64(3, 'UTC'),
    plate String,
    plate_raw Nullable(String),
    confidence Nullable(Float32),
    country LowCardinality(Nullable(String)),
    direction LowCardinality(Nullable(String)),
    direction_raw Nullable(String),
    lane Nullable(Int32),
    vehicle_type LowCardinality(Nullable(String)),
    vehicle_color LowCardinality(Nullable(String)),
    vehicle_make LowCardinality(Nullable(String)),
    vehicle_model Nullable(String),
    plate_box Array(Int32),
    candidate_plates Array(String),
    candidate_confidences Array(Float32),
    image_keys Array(String),
    image_kinds Array(LowCardinality(String)),
    attributes Map(String, String),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX plate_bf plate TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX plate_ngram plate TYPE ngrambf_v1(3, 8192, 3, 7) GRANULARITY 1,
    INDEX offset_minmax offset TYPE minmax GRANULARITY 1
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (camera_id, toStartOfHour(ts), event_id)
${ttl:camera_events:inserted_at}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.alerts
(
    alert_id String,
    entry_id String,
    list_id LowCardinality(String),
    list_kind LowCardinality(String),
    pattern String,
    match_type LowCardinality(String),
    reason String,
    priority LowCardinality(String),
    owner LowCardinality(String),
    event_id String,
    camera_id LowCardinality(String),
    plate String,
    confidence Float32,
    ts DateTime64(3, 'UTC'),
    early Bool,
    read_id Nullable(String),
    site LowCardinality(Nullable(String)),
    zone LowCardinality(Nullable(String)),
    camera_name LowCardinality(Nullable(String)),
    crop_s3_key Nullable(String),
    received_at Nullable(DateTime64(3, 'UTC')),
    emitted_at DateTime64(3, 'UTC'),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX plate_bf plate TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (camera_id, toStartOfHour(ts), alert_id)
${ttl:alerts:inserted_at}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.alert_deliveries
(
    delivery_id String,
    alert_id String,
    channel LowCardinality(String),
    target String,
    status LowCardinality(String),
    attempts UInt32,
    error Nullable(String),
    ts DateTime64(3, 'UTC'),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (alert_id, delivery_id, ts)
${ttl:alert_deliveries:inserted_at}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.camera_status
(
    camera_id LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    state LowCardinality(String),
    source LowCardinality(String),
    reason Nullable(String),
    fps Nullable(Float32),
    events_per_min Nullable(Float32),
    last_event_ts Nullable(DateTime64(3, 'UTC')),
    details Map(String, String),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (camera_id, ts, state, source)
${ttl:camera_status:inserted_at}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.corrections
(
    correction_id String,
    event_id String,
    action LowCardinality(String),
    plate Nullable(String),
    previous_plate Nullable(String),
    user LowCardinality(String),
    reason String,
    ts DateTime64(3, 'UTC'),
    event_partition Nullable(Int32),
    event_offset Nullable(Int64),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (event_id, correction_id)
${ttl:corrections:inserted_at}
${settings};

CREATE TABLE IF NOT EXISTS ${db}.audit_log
(
    audit_id String,
    ts DateTime64(3, 'UTC'),
    actor LowCardinality(String),
    role LowCardinality(String),
    action LowCardinality(String),
    resource String,
    query String,
    result_count Nullable(Int32),
    status UInt16,
    client_ip Nullable(String),
    request_id Nullable(String),
    topic LowCardinality(String),
    partition UInt16,
    offset UInt64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replacing}()
PARTITION BY toYYYYMM(ts)
ORDER BY (actor, ts, audit_id)
${ttl:audit_log:inserted_at}
${settings};
