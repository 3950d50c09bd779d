-- Files uploaded through the MLflow artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/…`)
-- outside a version: an MLflow client logging a model, or staging a directory to register.
-- Each path names a content-addressed blob; `mlflow.register_model` of a path makes a file
-- tree version of the files under it. Writing a path again replaces its row.
CREATE TABLE mlflow_artifacts (
    path TEXT PRIMARY KEY NOT NULL,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL
);
