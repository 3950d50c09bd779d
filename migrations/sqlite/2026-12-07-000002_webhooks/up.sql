-- Signed webhooks (Standard Webhooks): the endpoints users register, and the log of each
-- delivery attempt. Timestamps are UTC. Delivery reads the event log after each
-- webhook's cursor, like the relays; its lease is a `relay_leases` row named `webhooks`.

-- One row per endpoint. `events` is a JSON array of event kinds or `["*"]`; `status` is
-- active, paused or disabled (`disabled_reason` says why). Every event with
-- `seq <= cursor_seq` that the webhook selects has been delivered (2xx). `attempts`,
-- `failing_since` and `next_attempt_at` describe the failed attempts of the event after
-- the cursor. `previous_secret` keeps signing until `previous_secret_until` after a
-- rotation.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    model TEXT,
    description TEXT,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    status TEXT NOT NULL,
    disabled_reason TEXT,
    cursor_seq BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    failing_since TIMESTAMP,
    next_attempt_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per attempt, newest kept (the delivery loop trims each webhook's to 1000).
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status_code BIGINT,
    error TEXT,
    latency_ms BIGINT NOT NULL,
    next_retry_at TIMESTAMP
);

CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
