-- Registry core: models, versions, stage history, aliases and the event log (outbox).
-- Timestamps are UTC. JSON documents (signature, metrics, params, tags) are TEXT.

CREATE TABLE models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    next_version BIGINT NOT NULL DEFAULT 1,
    staging_version BIGINT,
    production_version BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE model_tags (
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (model_id, tag)
);
CREATE INDEX model_tags_tag ON model_tags (tag);

CREATE TABLE versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    digest TEXT,
    size BIGINT,
    format TEXT NOT NULL,
    expected_digest TEXT,
    signature TEXT,
    metrics TEXT NOT NULL,
    params TEXT NOT NULL,
    tags TEXT NOT NULL,
    source TEXT,
    description TEXT,
    created_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP,
    UNIQUE (model_id, version)
);

-- The holders a stage had before, newest last: rollback pops from here.
CREATE TABLE stage_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX stage_history_model_stage ON stage_history (model_id, stage, id);

CREATE TABLE aliases (
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    alias TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (model_id, alias)
);

-- Gap-free counters, incremented inside the transaction that uses the value.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('event_seq', 0);

CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    version BIGINT,
    stage TEXT,
    from_version BIGINT,
    to_version BIGINT,
    reason TEXT,
    alias TEXT,
    digest TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_model_seq ON events (model, seq);
