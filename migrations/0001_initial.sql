-- circle-archive schema, version 0001.
--
-- Conventions (people write SQL against these names; keep them stable):
-- * Timestamps are ISO 8601 UTC text with milliseconds, e.g. 2021-09-01T22:49:34.317Z,
--   so they sort and compare as text and work with SQLite's date functions.
-- * `last_event_key` is the ordering key of the newest event applied to an entity row:
--   its happened_at to the microsecond, a space, then its event id. An event older than the
--   key never overwrites a value; it only fills values the row does not have yet.
-- * Workflow status and stopped_at change over a workflow's life (a cancelled workflow sends
--   several workflow-completed events with growing stopped_at; job-completed events carry the
--   workflow without a status), so each follows the newest event that carries it, tracked by
--   its own key column.

-- Every accepted delivery, once per event id, with the exact body received.
CREATE TABLE events (
    id              TEXT PRIMARY KEY NOT NULL,
    type            TEXT NOT NULL,
    happened_at     TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    webhook_id      TEXT,
    webhook_name    TEXT,
    organization_id TEXT,
    project_id      TEXT,
    pipeline_id     TEXT,
    workflow_id     TEXT,
    job_id          TEXT,
    payload         TEXT NOT NULL
);
CREATE INDEX events_by_happened_at ON events (happened_at);
CREATE INDEX events_by_type_happened_at ON events (type, happened_at);

CREATE TABLE organizations (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT,
    last_event_key TEXT NOT NULL
);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY NOT NULL,
    slug            TEXT,
    name            TEXT,
    organization_id TEXT,
    last_event_key  TEXT NOT NULL
);
CREATE INDEX projects_by_slug ON projects (slug);

CREATE TABLE pipelines (
    id                        TEXT PRIMARY KEY NOT NULL,
    number                    INTEGER,
    project_id                TEXT,
    created_at                TEXT,
    trigger_type              TEXT,
    trigger_actor_id          TEXT,
    vcs_provider_name         TEXT,
    vcs_target_repository_url TEXT,
    vcs_origin_repository_url TEXT,
    vcs_revision              TEXT,
    vcs_branch                TEXT,
    vcs_tag                   TEXT,
    commit_subject            TEXT,
    commit_body               TEXT,
    commit_author_name        TEXT,
    commit_author_email       TEXT,
    commit_authored_at        TEXT,
    commit_committer_name     TEXT,
    commit_committer_email    TEXT,
    commit_committed_at       TEXT,
    last_event_key            TEXT NOT NULL
);
CREATE INDEX pipelines_by_project_branch ON pipelines (project_id, vcs_branch);

CREATE TABLE workflows (
    id                   TEXT PRIMARY KEY NOT NULL,
    name                 TEXT,
    pipeline_id          TEXT,
    project_id           TEXT,
    status               TEXT,
    created_at           TEXT,
    stopped_at           TEXT,
    url                  TEXT,
    last_event_key       TEXT NOT NULL,
    status_event_key     TEXT,
    stopped_at_event_key TEXT
);
CREATE INDEX workflows_by_project_name_stopped_at ON workflows (project_id, name, stopped_at);
CREATE INDEX workflows_by_pipeline ON workflows (pipeline_id);

CREATE TABLE jobs (
    id             TEXT PRIMARY KEY NOT NULL,
    number         INTEGER,
    name           TEXT,
    status         TEXT,
    started_at     TEXT,
    stopped_at     TEXT,
    workflow_id    TEXT,
    pipeline_id    TEXT,
    project_id     TEXT,
    last_event_key TEXT NOT NULL
);
CREATE INDEX jobs_by_project_name_stopped_at ON jobs (project_id, name, stopped_at);
CREATE INDEX jobs_by_workflow ON jobs (workflow_id);
CREATE INDEX jobs_by_stopped_at ON jobs (stopped_at);

-- Signed (or, with --allow-unsigned, unsigned-mode) deliveries that could not be archived,
-- kept so a broken sender can be diagnosed. Forged deliveries are never written anywhere.
-- One row per distinct body: a retried or re-imported delivery counts another attempt.
CREATE TABLE rejected_deliveries (
    id               INTEGER PRIMARY KEY,
    received_at      TEXT NOT NULL,
    last_received_at TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 1,
    reason           TEXT NOT NULL,
    event_type       TEXT,
    headers          TEXT NOT NULL,
    body             BLOB NOT NULL,
    body_sha256      TEXT NOT NULL UNIQUE
);
CREATE INDEX rejected_deliveries_by_received_at ON rejected_deliveries (received_at);

-- One row per job run, joined with its workflow, pipeline, project and organization.
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
    w.url || '/jobs/' || j.number AS job_url
FROM jobs j
LEFT JOIN workflows w      ON w.id = j.workflow_id
LEFT JOIN pipelines p      ON p.id = j.pipeline_id
LEFT JOIN projects pr      ON pr.id = j.project_id
LEFT JOIN organizations o  ON o.id = pr.organization_id;

-- One row per workflow run, joined with its pipeline, project and organization.
CREATE VIEW workflow_runs AS
SELECT
    w.id               AS workflow_id,
    w.name             AS workflow_name,
    w.status           AS workflow_status,
    w.created_at       AS created_at,
    w.stopped_at       AS stopped_at,
    round((julianday(w.stopped_at) - julianday(w.created_at)) * 86400.0, 3) AS duration_seconds,
    w.pipeline_id      AS pipeline_id,
    p.number           AS pipeline_number,
    pr.slug            AS project_slug,
    pr.name            AS project_name,
    o.name             AS organization_name,
    p.vcs_branch       AS branch,
    p.vcs_tag          AS tag,
    p.vcs_revision     AS revision,
    p.trigger_type     AS trigger_type,
    w.url              AS workflow_url
FROM workflows w
LEFT JOIN pipelines p      ON p.id = w.pipeline_id
LEFT JOIN projects pr      ON pr.id = w.project_id
LEFT JOIN organizations o  ON o.id = pr.organization_id;

-- One row per pipeline with its project and organization.
CREATE VIEW pipeline_runs AS
SELECT
    p.id                        AS pipeline_id,
    p.number                    AS pipeline_number,
    p.created_at                AS created_at,
    pr.slug                     AS project_slug,
    pr.name                     AS project_name,
    o.name                      AS organization_name,
    p.trigger_type              AS trigger_type,
    p.trigger_actor_id          AS trigger_actor_id,
    p.vcs_provider_name         AS vcs_provider_name,
    p.vcs_target_repository_url AS vcs_target_repository_url,
    p.vcs_origin_repository_url AS vcs_origin_repository_url,
    p.vcs_branch                AS branch,
    p.vcs_tag                   AS tag,
    p.vcs_revision              AS revision,
    p.commit_subject            AS commit_subject,
    p.commit_body               AS commit_body,
    p.commit_author_name        AS commit_author_name,
    p.commit_author_email       AS commit_author_email,
    p.commit_authored_at        AS commit_authored_at,
    p.commit_committer_name     AS commit_committer_name,
    p.commit_committer_email    AS commit_committer_email,
    p.commit_committed_at       AS commit_committed_at
FROM pipelines p
LEFT JOIN projects pr      ON pr.id = p.project_id
LEFT JOIN organizations o  ON o.id = pr.organization_id;
