-- Backfill from CircleCI's API v2 (`circle-archive backfill`).
--
-- `source` says where a row's newest values came from: 'webhook' (an archived event) or 'api' (a
-- backfill). Like every value it follows the newest ordering key. Backfilled data is keyed by the
-- time it describes (a finished run by its stopped_at, a pipeline by its created_at, anything still
-- running by the time it was fetched), so a webhook about the same run, which happens once it has
-- stopped, is newer: it wins and marks the row 'webhook', and backfill only fills what it lacks.
ALTER TABLE pipelines ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE workflows ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE jobs ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook';

-- How far backfill got, per project and branch filter ('' for all branches): every pipeline
-- created from covered_from to covered_to was fetched. covered_from is '' once the walk reached
-- the project's first pipeline. page_token asks the API for the page that holds the pipelines
-- just below covered_from (NULL: the newest page), so an interrupted run, or one reaching further
-- back, continues there instead of paging through what it has.
CREATE TABLE backfill_progress (
    project_slug TEXT NOT NULL,
    branch       TEXT NOT NULL,
    covered_from TEXT NOT NULL,
    covered_to   TEXT NOT NULL,
    page_token   TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (project_slug, branch)
) WITHOUT ROWID;

-- Pipelines backfill fetched, and whether each was finished then (every workflow in a terminal
-- status). A finished pipeline is never fetched again; an unfinished one is, by the next run.
CREATE TABLE backfilled_pipelines (
    pipeline_id  TEXT PRIMARY KEY NOT NULL,
    project_slug TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    finished     INTEGER NOT NULL,
    fetched_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX backfilled_pipelines_unfinished ON backfilled_pipelines (project_slug, created_at) WHERE finished = 0;
