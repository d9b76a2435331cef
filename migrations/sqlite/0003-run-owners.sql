-- Ownership of runs across nodes (docs/operations.md): a run is owned by one node, whose lease
-- lives in `nodes`; a node whose lease expired loses its runs to whichever node acquires them
-- first, and every acquisition by a new owner bumps the run's epoch (fencing).

ALTER TABLE runs ADD COLUMN owner TEXT;
CREATE INDEX runs_by_owner ON runs (owner) WHERE owner IS NOT NULL;

CREATE TABLE nodes (
  node_id          TEXT PRIMARY KEY,
  lease_expires_at INTEGER NOT NULL,
  started_at       INTEGER NOT NULL
);
