-- Counters the archive keeps about itself. The first counts rejected deliveries dropped to keep
-- rejected_deliveries under its cap (the oldest go first), so the loss is visible in `stats`.
CREATE TABLE archive_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO archive_counters (name, value) VALUES ('rejected_deliveries_dropped', 0);
