ALTER TABLE events DROP COLUMN request;
DROP TABLE promotion_approvals;
DROP TABLE promotion_requests;
DROP TABLE promotion_policies;
