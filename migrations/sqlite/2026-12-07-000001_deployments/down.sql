ALTER TABLE events DROP COLUMN to_state;
ALTER TABLE events DROP COLUMN from_state;
ALTER TABLE events DROP COLUMN deployment;
ALTER TABLE batch_schedules DROP COLUMN deployment;
DROP TABLE batch_job_deployments;
DROP TABLE deployment_instances;
DROP TABLE deployments;
