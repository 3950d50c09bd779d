-- Who may do what: API tokens (only a hash of each secret is kept) and who created each
-- version. Timestamps are UTC.

-- One row per live token; revoking deletes the row, so a revoked secret is as unknown as
-- one never issued. `role` is reader, editor, promoter or admin; `models` is a JSON array
-- of model-name patterns the token is limited to (NULL: every model). `secret_hash` is the
-- hex sha256 of the secret. `last_used_at` is refreshed at most once a minute.
CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    models TEXT,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    last_used_at TIMESTAMP
);

-- The actor that registered the version (`anonymous` with authentication off; NULL for
-- versions from before this migration).
ALTER TABLE versions ADD COLUMN created_by TEXT;
