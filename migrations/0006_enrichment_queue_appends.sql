-- The enrichment queue, rebuilt so that queueing a job appends to it. 0005 keyed it by job_id, a
-- random UUID, so each webhook batch wrote one more scattered page per job it archived: that cost
-- 12% of webhook throughput at c=64. Here rows are keyed by seq, in the order queued, and the only
-- index is on next_attempt_at, which grows with time. Nothing looks a job up by id: the webhook
-- path queues a job at its first completion only, `enrich` skips jobs already queued with one
-- scan, and the worker removes the row it was given by its seq.
CREATE TABLE enrichment_queue_by_seq (
    seq             INTEGER PRIMARY KEY,
    job_id          TEXT NOT NULL,
    project_slug    TEXT NOT NULL,
    job_number      INTEGER NOT NULL,
    queued_at       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT
);
INSERT INTO enrichment_queue_by_seq (job_id, project_slug, job_number, queued_at, attempts, next_attempt_at, last_error)
SELECT job_id, project_slug, job_number, queued_at, attempts, next_attempt_at, last_error
FROM enrichment_queue ORDER BY next_attempt_at, job_id;
DROP TABLE enrichment_queue;
ALTER TABLE enrichment_queue_by_seq RENAME TO enrichment_queue;
CREATE INDEX enrichment_queue_by_next_attempt ON enrichment_queue (next_attempt_at);
