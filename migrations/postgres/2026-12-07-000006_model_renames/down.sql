ALTER TABLE events DROP COLUMN previous_name;
