-- The durable queue: one row per queued command, keyed by its idempotency key ({runId}:{seq}).
-- Each delivery to a worker has its own delivery_id, `{task_key}@{attempt}`: the taskId workers see.

CREATE TABLE tasks (
  task_key         TEXT PRIMARY KEY,
  service          TEXT NOT NULL,
  command          TEXT NOT NULL,
  input            TEXT,
  run_id           TEXT NOT NULL,
  workflow         TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  traceparent      TEXT NOT NULL,
  -- queued | leased | completed | failed | withdrawn
  status           TEXT NOT NULL,
  -- deliveries so far: the next delivery is attempt + 1
  attempt          INTEGER NOT NULL DEFAULT 0,
  delivery_id      TEXT,
  worker_id        TEXT,
  lease_ms         INTEGER NOT NULL,
  lease_expires_at INTEGER,
  -- not delivered before this time (retry backoff)
  visible_at       INTEGER NOT NULL,
  output           TEXT,
  error            TEXT,
  retryable        INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);

CREATE INDEX tasks_queued ON tasks (service, visible_at) WHERE status = 'queued';
CREATE INDEX tasks_leased ON tasks (service, lease_expires_at) WHERE status = 'leased';
