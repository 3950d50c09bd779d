-- Pattern 4, offline predictions: datasets, batch jobs and their chunks, schedules.
-- Timestamps are UTC. JSON documents (row index, errors, failure, input) are TEXT.

-- Events name who caused them and, for batch events, the job.
ALTER TABLE events ADD COLUMN actor TEXT;
ALTER TABLE events ADD COLUMN job TEXT;

-- An uploaded input file, content-addressed in the object store like an artifact.
-- `row_index` (CSV, JSONL) holds the header and chunk checkpoints found while uploading.
CREATE TABLE datasets (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    format TEXT NOT NULL,
    size BIGINT NOT NULL,
    rows BIGINT,
    row_index TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE batch_schedules (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    model TEXT NOT NULL,
    model_ref TEXT NOT NULL,
    input TEXT NOT NULL,
    output_format TEXT NOT NULL,
    id_column TEXT,
    max_bad_rows BIGINT NOT NULL,
    auto_approve BOOLEAN NOT NULL,
    paused BOOLEAN NOT NULL,
    -- The latest fire time a job was created for (or the creation time): the next firing
    -- is the first cron time after it.
    last_fired_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE batch_jobs (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    model_ref TEXT NOT NULL,
    version BIGINT,
    digest TEXT,
    input TEXT NOT NULL,
    dataset_id TEXT,
    output_format TEXT NOT NULL,
    id_column TEXT,
    max_bad_rows BIGINT NOT NULL,
    -- The column plan decided when the job started (matching, columns), as JSON.
    plan TEXT,
    rows_total BIGINT,
    rows_done BIGINT NOT NULL,
    bad_rows BIGINT NOT NULL,
    errors TEXT NOT NULL,
    failure TEXT,
    output_digest TEXT,
    output_size BIGINT,
    output_rows BIGINT,
    -- Which worker is starting or finishing the job, and until when it may.
    holder TEXT,
    lease_expires_at TIMESTAMP,
    review_by TEXT,
    review_reason TEXT,
    reviewed_at TIMESTAMP,
    schedule TEXT,
    fire_time TIMESTAMP,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    -- A schedule fires once per fire time, however many replicas race to fire it.
    UNIQUE (schedule, fire_time)
);
CREATE INDEX batch_jobs_status ON batch_jobs (status, number);
CREATE INDEX batch_jobs_model_reviewed ON batch_jobs (model, status, reviewed_at);

-- A job's unit of work: a byte range of a CSV/JSONL file or a Parquet row group, claimed
-- by one worker at a time under a lease it renews.
CREATE TABLE batch_chunks (
    job_id TEXT NOT NULL REFERENCES batch_jobs (id) ON DELETE CASCADE,
    chunk BIGINT NOT NULL,
    start_offset BIGINT NOT NULL,
    end_offset BIGINT NOT NULL,
    first_row BIGINT NOT NULL,
    status TEXT NOT NULL,
    holder TEXT,
    lease_expires_at TIMESTAMP,
    attempts BIGINT NOT NULL,
    rows BIGINT,
    written BIGINT,
    bad_rows BIGINT,
    errors TEXT,
    part TEXT,
    part_size BIGINT,
    keys TEXT,
    PRIMARY KEY (job_id, chunk)
);
CREATE INDEX batch_chunks_status ON batch_chunks (status, job_id, chunk);
