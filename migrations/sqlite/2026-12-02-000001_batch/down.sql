DROP TABLE batch_chunks;
DROP TABLE batch_jobs;
DROP TABLE batch_schedules;
DROP TABLE datasets;
ALTER TABLE events DROP COLUMN job;
ALTER TABLE events DROP COLUMN actor;
