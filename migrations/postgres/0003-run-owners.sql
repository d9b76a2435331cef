-- Ownership of runs across nodes (docs/operations.md): a run is owned by one node, whose lease
-- lives in `nodes`; a node whose lease expired loses its runs to whichever node acquires them
-- first, and every acquisition by a new owner bumps the run's epoch (fencing).
-- Mirrors migrations/sqlite/0003-run-owners.sql.

ALTER TABLE runs ADD COLUMN owner TEXT COLLATE "C";
CREATE INDEX runs_by_owner ON runs (owner) WHERE owner IS NOT NULL;

CREATE TABLE nodes (
  node_id          TEXT COLLATE "C" PRIMARY KEY,
  lease_expires_at BIGINT NOT NULL,
  started_at       BIGINT NOT NULL
);
