-- Version pinning: the workflow version a run started with; only code of that version executes
-- it. Runs created before versions existed ran the only code there was: version 1.
-- Mirrors migrations/postgres/0010.
ALTER TABLE runs ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
