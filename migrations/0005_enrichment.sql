-- Enrichment from CircleCI's API v2 (issue 16): what webhooks leave out of a job, kept before
-- CircleCI deletes it. Filled by the enrichment worker of `serve`, by `backfill` and by `enrich`.

-- Job details (GET /project/{slug}/job/{number}). NULL until fetched. enrichment_status is
-- 'enriched' once the details were stored, 'unavailable' when CircleCI answered 404 (data past its
-- retention): such a job is not asked about again. enriched_at is when that happened.
ALTER TABLE jobs ADD COLUMN queued_at TEXT;
ALTER TABLE jobs ADD COLUMN resource_class TEXT;
ALTER TABLE jobs ADD COLUMN executor_type TEXT;
ALTER TABLE jobs ADD COLUMN parallelism INTEGER;
ALTER TABLE jobs ADD COLUMN enriched_at TEXT;
ALTER TABLE jobs ADD COLUMN enrichment_status TEXT;

-- Test results (GET /project/{slug}/{number}/tests), in the order CircleCI lists them. A job's
-- tests are replaced as a whole each time they are fetched, so a re-fetch never doubles them.
CREATE TABLE test_results (
    job_id           TEXT NOT NULL,
    position         INTEGER NOT NULL,
    classname        TEXT,
    name             TEXT,
    file             TEXT,
    result           TEXT,
    run_time_seconds REAL,
    message          TEXT,
    source           TEXT,
    PRIMARY KEY (job_id, position)
) WITHOUT ROWID;
CREATE INDEX test_results_by_test ON test_results (classname, name);

-- Jobs waiting for enrichment: queued in the transaction that archives their job-completed event,
-- so a crash or restart loses no pending work; removed in the transaction that stores what was
-- fetched. attempts and next_attempt_at pace retries after transient failures.
CREATE TABLE enrichment_queue (
    job_id          TEXT PRIMARY KEY NOT NULL,
    project_slug    TEXT NOT NULL,
    job_number      INTEGER NOT NULL,
    queued_at       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT
) WITHOUT ROWID;
CREATE INDEX enrichment_queue_by_next_attempt ON enrichment_queue (next_attempt_at);

-- job_runs gains the details, after its earlier columns (exports keep their column order and
-- add these at the end); queue_seconds is started_at - queued_at.
DROP VIEW job_runs;
CREATE VIEW job_runs AS
SELECT
    j.id               AS job_id,
    j.number           AS job_number,
    j.name             AS job_name,
    j.status           AS job_status,
    j.started_at       AS started_at,
    j.stopped_at       AS stopped_at,
    round((julianday(j.stopped_at) - julianday(j.started_at)) * 86400.0, 3) AS duration_seconds,
    j.workflow_id      AS workflow_id,
    w.name             AS workflow_name,
    j.pipeline_id      AS pipeline_id,
    p.number           AS pipeline_number,
    pr.slug            AS project_slug,
    pr.name            AS project_name,
    o.name             AS organization_name,
    p.vcs_branch       AS branch,
    p.vcs_tag          AS tag,
    p.vcs_revision     AS revision,
    p.trigger_type     AS trigger_type,
    w.url || '/jobs/' || j.number AS job_url,
    j.queued_at        AS queued_at,
    round((julianday(j.started_at) - julianday(j.queued_at)) * 86400.0, 3) AS queue_seconds,
    j.resource_class   AS resource_class,
    j.executor_type    AS executor_type,
    j.parallelism      AS parallelism
FROM jobs j
LEFT JOIN workflows w      ON w.id = j.workflow_id
LEFT JOIN pipelines p      ON p.id = j.pipeline_id
LEFT JOIN projects pr      ON pr.id = j.project_id
LEFT JOIN organizations o  ON o.id = pr.organization_id;

-- One row per test result, with its job, workflow, pipeline and project.
CREATE VIEW test_runs AS
SELECT
    t.job_id           AS job_id,
    t.position         AS position,
    t.classname        AS classname,
    t.name             AS test_name,
    t.file             AS file,
    t.result           AS result,
    t.run_time_seconds AS run_time_seconds,
    t.message          AS message,
    t.source           AS source,
    j.number           AS job_number,
    j.name             AS job_name,
    j.status           AS job_status,
    j.stopped_at       AS stopped_at,
    j.workflow_id      AS workflow_id,
    w.name             AS workflow_name,
    j.pipeline_id      AS pipeline_id,
    pr.slug            AS project_slug,
    p.vcs_branch       AS branch,
    p.vcs_revision     AS revision,
    w.url || '/jobs/' || j.number AS job_url
FROM test_results t
JOIN jobs j                ON j.id = t.job_id
LEFT JOIN workflows w      ON w.id = j.workflow_id
LEFT JOIN pipelines p      ON p.id = j.pipeline_id
LEFT JOIN projects pr      ON pr.id = j.project_id;
