ALTER TABLE versions DROP COLUMN created_by;
DROP TABLE tokens;
