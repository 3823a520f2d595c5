-- Summaries of job and workflow runs per UTC day, per ISO week and per month (issue 18), so that reports over
-- years of runs read a few rows per job and day instead of every run. They are a cache of the
-- views `job_runs` and `workflow_runs`, never a source: a day's rows are rebuilt from its view as a
-- whole (`ArchiveStore.refreshSummaries`), and reports read a day from its rows only while it is
-- fresh, otherwise from the view itself (see RunSummaries.swift). Reports are therefore exact
-- whatever has been refreshed.
--
-- One row per day (or week, or month) and project, workflow, job (for job runs) and branch: the view's
-- columns reports group and filter by, under the same names.
-- * runs, succeeded, failed, canceled: counted as every report counts statuses (`StatusCounts`).
-- * durations: the runs' known `duration_seconds`, ascending, as 8-byte little-endian IEEE
--   doubles, so nearest-rank percentiles stay exact; NULL when no run has one.
-- * last_failed_at, last_failed_id: the latest failure and its job (or workflow) id; of failures
--   at the same time, the greatest id.
-- `day` is substr(stopped_at, 1, 10), '' for runs with no stopped_at; `month` is its first 7;
-- `week` is the week's Monday (`date(day, '-6 days', 'weekday 1')`).
-- IF NOT EXISTS throughout, so that the migration can run again over its own work.
CREATE TABLE IF NOT EXISTS job_run_days (
    day            TEXT NOT NULL,
    project_slug   TEXT,
    workflow_name  TEXT,
    job_name       TEXT,
    branch         TEXT,
    runs           INTEGER NOT NULL,
    succeeded      INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    canceled       INTEGER NOT NULL,
    durations      BLOB,
    last_failed_at TEXT,
    last_failed_id TEXT
);
CREATE INDEX IF NOT EXISTS job_run_days_by_day ON job_run_days (day);

CREATE TABLE IF NOT EXISTS job_run_months (
    month          TEXT NOT NULL,
    project_slug   TEXT,
    workflow_name  TEXT,
    job_name       TEXT,
    branch         TEXT,
    runs           INTEGER NOT NULL,
    succeeded      INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    canceled       INTEGER NOT NULL,
    durations      BLOB,
    last_failed_at TEXT,
    last_failed_id TEXT
);
CREATE INDEX IF NOT EXISTS job_run_months_by_month ON job_run_months (month);

CREATE TABLE IF NOT EXISTS job_run_weeks (
    week           TEXT NOT NULL,
    project_slug   TEXT,
    workflow_name  TEXT,
    job_name       TEXT,
    branch         TEXT,
    runs           INTEGER NOT NULL,
    succeeded      INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    canceled       INTEGER NOT NULL,
    durations      BLOB,
    last_failed_at TEXT,
    last_failed_id TEXT
);
CREATE INDEX IF NOT EXISTS job_run_weeks_by_week ON job_run_weeks (week);

CREATE TABLE IF NOT EXISTS workflow_run_days (
    day            TEXT NOT NULL,
    project_slug   TEXT,
    workflow_name  TEXT,
    branch         TEXT,
    runs           INTEGER NOT NULL,
    succeeded      INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    canceled       INTEGER NOT NULL,
    durations      BLOB,
    last_failed_at TEXT,
    last_failed_id TEXT
);
CREATE INDEX IF NOT EXISTS workflow_run_days_by_day ON workflow_run_days (day);

CREATE TABLE IF NOT EXISTS workflow_run_months (
    month          TEXT NOT NULL,
    project_slug   TEXT,
    workflow_name  TEXT,
    branch         TEXT,
    runs           INTEGER NOT NULL,
    succeeded      INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    canceled       INTEGER NOT NULL,
    durations      BLOB,
    last_failed_at TEXT,
    last_failed_id TEXT
);
CREATE INDEX IF NOT EXISTS workflow_run_months_by_month ON workflow_run_months (month);

CREATE TABLE IF NOT EXISTS workflow_run_weeks (
    week           TEXT NOT NULL,
    project_slug   TEXT,
    workflow_name  TEXT,
    branch         TEXT,
    runs           INTEGER NOT NULL,
    succeeded      INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    canceled       INTEGER NOT NULL,
    durations      BLOB,
    last_failed_at TEXT,
    last_failed_id TEXT
);
CREATE INDEX IF NOT EXISTS workflow_run_weeks_by_week ON workflow_run_weeks (week);

-- Days whose rows no longer match their view (or were never built), and months and weeks to
-- rebuild from their days. Filled by the triggers below in the transaction that changes a run, so no change
-- can slip past them; emptied by the refresh.
CREATE TABLE IF NOT EXISTS job_run_days_stale (day TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_run_months_stale (month TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_run_weeks_stale (week TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workflow_run_days_stale (day TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workflow_run_months_stale (month TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workflow_run_weeks_stale (week TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;

-- (ON CONFLICT, not INSERT OR IGNORE: a trigger's OR clause gives way to the upsert that fires it.)
-- A run's row in its view changes when its own row changes a column the view reads, or when a
-- row it joins (workflow name, pipeline branch, project slug) appears or changes. A job belongs
-- to its workflow's pipeline (CircleCI's model; every event carries both), so a pipeline's job
-- runs are found through its workflows.
CREATE TRIGGER IF NOT EXISTS job_run_days_stale_on_job_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_run_days_stale VALUES (coalesce(substr(NEW.stopped_at, 1, 10), '')) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS job_run_days_stale_on_job_update
AFTER UPDATE OF name, status, started_at, stopped_at, workflow_id, pipeline_id, project_id ON jobs
WHEN OLD.name IS NOT NEW.name OR OLD.status IS NOT NEW.status OR OLD.started_at IS NOT NEW.started_at
    OR OLD.stopped_at IS NOT NEW.stopped_at OR OLD.workflow_id IS NOT NEW.workflow_id
    OR OLD.pipeline_id IS NOT NEW.pipeline_id OR OLD.project_id IS NOT NEW.project_id
BEGIN
    INSERT INTO job_run_days_stale
    VALUES (coalesce(substr(OLD.stopped_at, 1, 10), '')), (coalesce(substr(NEW.stopped_at, 1, 10), '')) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS run_days_stale_on_workflow_insert AFTER INSERT ON workflows BEGIN
    INSERT INTO workflow_run_days_stale VALUES (coalesce(substr(NEW.stopped_at, 1, 10), '')) ON CONFLICT DO NOTHING;
    INSERT INTO job_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM jobs WHERE workflow_id = NEW.id ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS run_days_stale_on_workflow_update
AFTER UPDATE OF name, status, created_at, stopped_at, pipeline_id, project_id ON workflows
WHEN OLD.name IS NOT NEW.name OR OLD.status IS NOT NEW.status OR OLD.created_at IS NOT NEW.created_at
    OR OLD.stopped_at IS NOT NEW.stopped_at OR OLD.pipeline_id IS NOT NEW.pipeline_id OR OLD.project_id IS NOT NEW.project_id
BEGIN
    INSERT INTO workflow_run_days_stale
    VALUES (coalesce(substr(OLD.stopped_at, 1, 10), '')), (coalesce(substr(NEW.stopped_at, 1, 10), '')) ON CONFLICT DO NOTHING;
    INSERT INTO job_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM jobs WHERE workflow_id = NEW.id AND OLD.name IS NOT NEW.name
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS run_days_stale_on_pipeline_insert AFTER INSERT ON pipelines BEGIN
    INSERT INTO workflow_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM workflows WHERE pipeline_id = NEW.id ON CONFLICT DO NOTHING;
    INSERT INTO job_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM jobs
    WHERE workflow_id IN (SELECT id FROM workflows WHERE pipeline_id = NEW.id) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS run_days_stale_on_pipeline_branch AFTER UPDATE OF vcs_branch ON pipelines
WHEN OLD.vcs_branch IS NOT NEW.vcs_branch
BEGIN
    INSERT INTO workflow_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM workflows WHERE pipeline_id = NEW.id ON CONFLICT DO NOTHING;
    INSERT INTO job_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM jobs
    WHERE workflow_id IN (SELECT id FROM workflows WHERE pipeline_id = NEW.id) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS run_days_stale_on_project_insert AFTER INSERT ON projects BEGIN
    INSERT INTO workflow_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM workflows WHERE project_id = NEW.id ON CONFLICT DO NOTHING;
    INSERT INTO job_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM jobs WHERE project_id = NEW.id ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER IF NOT EXISTS run_days_stale_on_project_slug AFTER UPDATE OF slug ON projects
WHEN OLD.slug IS NOT NEW.slug
BEGIN
    INSERT INTO workflow_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM workflows WHERE project_id = NEW.id ON CONFLICT DO NOTHING;
    INSERT INTO job_run_days_stale
    SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM jobs WHERE project_id = NEW.id ON CONFLICT DO NOTHING;
END;

-- Every day an upgraded archive already holds starts stale; the refresh builds it, and reports
-- read those days from the views until then.
INSERT INTO job_run_days_stale SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM jobs WHERE true
ON CONFLICT DO NOTHING;
INSERT INTO workflow_run_days_stale SELECT DISTINCT coalesce(substr(stopped_at, 1, 10), '') FROM workflows WHERE true
ON CONFLICT DO NOTHING;
