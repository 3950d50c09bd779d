-- Governed promotion: a promotion policy per model, the promotion requests a policy that
-- needs approvals turns promotions into, and their approvals. Timestamps are UTC.

-- One row per model with a policy; `policy` is the PromotionPolicy as JSON.
CREATE TABLE promotion_policies (
    model_id BIGINT PRIMARY KEY REFERENCES models (id) ON DELETE CASCADE,
    policy TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);

-- `target` is `stage:<stage>` or `alias:<alias>`. `status` is pending, approved, rejected
-- or failed (expired is computed: pending and past `expires_at`). `expects_holder` says
-- whether `expected_version` (NULL: no version) is a condition at all.
CREATE TABLE promotion_requests (
    id TEXT PRIMARY KEY,
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    target TEXT NOT NULL,
    rollback BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    expects_holder BOOLEAN NOT NULL,
    expected_version BIGINT,
    approvals_required BIGINT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by TEXT,
    rejection_reason TEXT,
    failure_reason TEXT
);
CREATE INDEX promotion_requests_created ON promotion_requests (created_at, id);
CREATE INDEX promotion_requests_model ON promotion_requests (model, created_at);

-- One approval per approver and request.
CREATE TABLE promotion_approvals (
    request_id TEXT NOT NULL REFERENCES promotion_requests (id) ON DELETE CASCADE,
    approved_by TEXT NOT NULL,
    approved_at TIMESTAMP NOT NULL,
    reason TEXT,
    PRIMARY KEY (request_id, approved_by)
);

-- The promotion request a promotion event is about.
ALTER TABLE events ADD COLUMN request TEXT;
