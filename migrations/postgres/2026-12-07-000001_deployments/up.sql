-- Deployments (issue 11): named consumers of a ref under one delivery pattern, and what
-- their instances report. The state is computed when asked; `state` keeps the last one a
-- deployment_state_changed event recorded, so each transition is written once.
CREATE TABLE deployments (
    name TEXT PRIMARY KEY,
    -- The ref's model name (for filters and events) and the ref as given.
    model TEXT NOT NULL,
    model_ref TEXT NOT NULL,
    pattern TEXT NOT NULL,
    description TEXT,
    -- A JSON object of string labels.
    labels TEXT NOT NULL,
    canary_ref TEXT,
    canary_percent BIGINT,
    state TEXT NOT NULL,
    state_reason TEXT NOT NULL,
    -- When the ref or the canary last changed (the grace period runs from the later of
    -- this and the last event that moved the ref).
    spec_changed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX deployments_by_model ON deployments (model, name);

CREATE TABLE deployment_instances (
    deployment TEXT NOT NULL,
    instance TEXT NOT NULL,
    version BIGINT,
    digest TEXT,
    canary_version BIGINT,
    canary_digest TEXT,
    status TEXT NOT NULL,
    detail TEXT,
    started_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    PRIMARY KEY (deployment, instance)
);

-- A batch job run for a deployment (pattern 4): its latest approved job is what the
-- deployment observes. A table of its own: batch_jobs is at diesel's 32-column limit.
CREATE TABLE batch_job_deployments (
    job_id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL
);
CREATE INDEX batch_job_deployments_by_deployment ON batch_job_deployments (deployment);

ALTER TABLE batch_schedules ADD COLUMN deployment TEXT;

ALTER TABLE events ADD COLUMN deployment TEXT;
ALTER TABLE events ADD COLUMN from_state TEXT;
ALTER TABLE events ADD COLUMN to_state TEXT;
