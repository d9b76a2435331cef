-- Retention and search by tags and creation time. Mirrors migrations/postgres/0012.

-- When a terminal run may be deleted, fixed as it ends (its workflow's retention, or the node's
-- default); NULL while it runs and for runs kept forever. The sweeper reads this alone, so runs of
-- workflows no longer deployed are deleted too.
ALTER TABLE runs ADD COLUMN delete_after INTEGER;
CREATE INDEX runs_by_delete_after ON runs (delete_after) WHERE delete_after IS NOT NULL;
-- The tags given on start, as JSON text (returned with the run); run_tags is what searches read.
ALTER TABLE runs ADD COLUMN tags TEXT;

-- One row per tag of a run; created_at copies the run's so a search by tag reads one index range
-- newest first, in the order and with the cursor of the runs list.
CREATE TABLE run_tags (
  run_id     TEXT NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX run_tags_by_value ON run_tags (key, value, created_at DESC, run_id DESC);

-- What deleting a run's rows reads: each table's rows of one run without a scan.
CREATE INDEX tasks_by_run ON tasks (run_id);
CREATE INDEX signals_by_run ON signals (run_id);
CREATE INDEX events_by_run ON events (run_id);
