ALTER TABLE batch_chunks DROP COLUMN input_key;
