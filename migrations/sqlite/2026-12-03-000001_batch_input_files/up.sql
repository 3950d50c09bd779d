-- A chunk of a job that reads several files (a URL ending in /) names its file.
ALTER TABLE batch_chunks ADD COLUMN input_key TEXT;
