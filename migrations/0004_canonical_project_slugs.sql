-- One spelling per project slug. Webhooks send `github/ORG/REPO` and `bitbucket/ORG/REPO`; API v2,
-- the web app and backfill say `gh/…` and `bb/…`. The archive now stores the short form (see
-- ProjectSlug.swift), and filters accept either; this rewrites what earlier versions stored as
-- sent. The raw payloads in `events` are left as CircleCI sent them.
UPDATE projects SET slug = 'gh/' || substr(slug, 8) WHERE lower(substr(slug, 1, 7)) = 'github/';
UPDATE projects SET slug = 'bb/' || substr(slug, 11) WHERE lower(substr(slug, 1, 10)) = 'bitbucket/';

-- Backfill progress kept under a long spelling: where the short one has progress too, the short
-- one's is kept (a walk with less progress is only slower, never wrong).
DELETE FROM backfill_progress
WHERE lower(substr(project_slug, 1, 7)) = 'github/'
  AND EXISTS (SELECT 1 FROM backfill_progress AS other
              WHERE other.project_slug = 'gh/' || substr(backfill_progress.project_slug, 8)
                AND other.branch = backfill_progress.branch);
DELETE FROM backfill_progress
WHERE lower(substr(project_slug, 1, 10)) = 'bitbucket/'
  AND EXISTS (SELECT 1 FROM backfill_progress AS other
              WHERE other.project_slug = 'bb/' || substr(backfill_progress.project_slug, 11)
                AND other.branch = backfill_progress.branch);
UPDATE backfill_progress SET project_slug = 'gh/' || substr(project_slug, 8) WHERE lower(substr(project_slug, 1, 7)) = 'github/';
UPDATE backfill_progress SET project_slug = 'bb/' || substr(project_slug, 11) WHERE lower(substr(project_slug, 1, 10)) = 'bitbucket/';
UPDATE backfilled_pipelines SET project_slug = 'gh/' || substr(project_slug, 8) WHERE lower(substr(project_slug, 1, 7)) = 'github/';
UPDATE backfilled_pipelines SET project_slug = 'bb/' || substr(project_slug, 11) WHERE lower(substr(project_slug, 1, 10)) = 'bitbucket/';
