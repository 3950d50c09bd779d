-- A model renamed (through the MLflow API or `POST /api/v1/models/{name}/rename`): its
-- `model_renamed` event is recorded under the new name, with the name it had before, so
-- replaying the new name's refs can start from the old name's history.
ALTER TABLE events ADD COLUMN previous_name TEXT;
