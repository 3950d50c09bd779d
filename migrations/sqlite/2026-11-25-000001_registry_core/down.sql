DROP TABLE events;
DROP TABLE counters;
DROP TABLE aliases;
DROP TABLE stage_history;
DROP TABLE versions;
DROP TABLE model_tags;
DROP TABLE models;
