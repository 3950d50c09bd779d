ALTER TABLE versions DROP COLUMN unservable_reason;
ALTER TABLE versions DROP COLUMN served_size;
ALTER TABLE versions DROP COLUMN served_digest;
ALTER TABLE versions DROP COLUMN served_path;
ALTER TABLE versions DROP COLUMN file_count;
ALTER TABLE versions DROP COLUMN layout;
