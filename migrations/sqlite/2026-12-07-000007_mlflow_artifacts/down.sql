DROP TABLE mlflow_artifacts;
