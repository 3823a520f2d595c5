-- Workflows by completion time: reports and dashboard pages over a window (`--since 30d`) find
-- their workflows through this index instead of reading every workflow (QueryPlanTests). Jobs
-- have had jobs_by_stopped_at since 0001; 0001's workflow index leads with the project.
-- IF NOT EXISTS: an archive whose owner added such an index by hand upgrades too.
CREATE INDEX IF NOT EXISTS workflows_by_stopped_at ON workflows (stopped_at);
