-- Versions that hold a tree of files. Such a version's `digest` is its manifest's (a blob
-- listing every file's path, digest, size and executable bit), `size` the bytes of all
-- files, `file_count` how many there are. `served_path` / `served_digest` / `served_size`
-- name the file serving loads (the ONNX file an MLflow `onnx` flavor or a lone `.onnx`
-- names); `unservable_reason` says why a ready tree is stored but not served.
ALTER TABLE versions ADD COLUMN layout TEXT NOT NULL DEFAULT 'blob';
ALTER TABLE versions ADD COLUMN file_count BIGINT;
ALTER TABLE versions ADD COLUMN served_path TEXT;
ALTER TABLE versions ADD COLUMN served_digest TEXT;
ALTER TABLE versions ADD COLUMN served_size BIGINT;
ALTER TABLE versions ADD COLUMN unservable_reason TEXT;
