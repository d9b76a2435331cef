-- The durable queue: one row per queued command, keyed by its idempotency key ({runId}:{seq}).
-- Each delivery to a worker has its own delivery_id, `{task_key}@{attempt}`: the taskId workers see.
-- Mirrors migrations/sqlite/0002-create-tasks.sql.

CREATE TABLE tasks (
  task_key         TEXT COLLATE "C" PRIMARY KEY,
  service          TEXT COLLATE "C" NOT NULL,
  command          TEXT NOT NULL,
  input            TEXT,
  run_id           TEXT COLLATE "C" NOT NULL,
  workflow         TEXT COLLATE "C" NOT NULL,
  seq              BIGINT NOT NULL,
  traceparent      TEXT NOT NULL,
  -- queued | leased | completed | failed | withdrawn
  status           TEXT NOT NULL,
  -- deliveries so far: the next delivery is attempt + 1
  attempt          BIGINT NOT NULL DEFAULT 0,
  delivery_id      TEXT COLLATE "C",
  worker_id        TEXT,
  lease_ms         BIGINT NOT NULL,
  lease_expires_at BIGINT,
  -- not delivered before this time (retry backoff)
  visible_at       BIGINT NOT NULL,
  output           TEXT,
  error            TEXT,
  retryable        BOOLEAN,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);

-- What claimTasks scans: the oldest deliverable tasks of one service, queued or with an expired lease.
CREATE INDEX tasks_queued ON tasks (service, visible_at) WHERE status = 'queued';
CREATE INDEX tasks_leased ON tasks (service, lease_expires_at) WHERE status = 'leased';
