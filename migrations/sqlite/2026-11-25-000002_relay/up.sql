-- The event relay: how far each broker publisher has published the event log, and which
-- registry replica may publish to it right now. Timestamps are UTC.

-- One row per publisher (`nats/<stream>`, `kafka/<topic>`): every event with
-- `seq <= seq` has been acknowledged by that broker.
CREATE TABLE relay_cursors (
    publisher TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per publisher: the replica (`holder`) that may publish until `expires_at`.
-- Holders renew it every few seconds; another replica takes over once it expires.
CREATE TABLE relay_leases (
    publisher TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
