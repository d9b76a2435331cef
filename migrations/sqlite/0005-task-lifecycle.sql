-- Bounds on a queued command: how many deliveries it gets, how long one delivery may take, how
-- long it may wait for a worker; unguessable delivery ids; and two statuses for a rollback that
-- meets a delivery in a worker's hands: withdrawing (the worker may still reply while its lease
-- lives) and expired (no reply came and none can: the command's outcome is unknown).

-- Rows queued before this migration keep being delivered as before: no bound on deliveries.
ALTER TABLE tasks ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 2147483647;
ALTER TABLE tasks ADD COLUMN timeout_ms INTEGER;
ALTER TABLE tasks ADD COLUMN queue_timeout_ms INTEGER;
-- when the current (or last) delivery was claimed: timeout_ms counts from here
ALTER TABLE tasks ADD COLUMN claimed_at INTEGER;
-- visible_at + queue_timeout_ms while queued, set on enqueue and on every requeue
ALTER TABLE tasks ADD COLUMN queue_expires_at INTEGER;
-- the random token of every delivery so far, attempt 1 first, space-separated: a reply names its
-- delivery as {task_key}@{attempt}.{token}, and only a token given out identifies a delivery
ALTER TABLE tasks ADD COLUMN delivery_tokens TEXT NOT NULL DEFAULT '';

-- What expireTasks and nextTaskExpiry read, each a partial index so finished tasks cost nothing:
-- leases that end a withdrawing task (taskCounts counts these too)...
CREATE INDEX tasks_withdrawing ON tasks (lease_expires_at) WHERE status = 'withdrawing';
-- ...leases of a last delivery, after which none may follow...
CREATE INDEX tasks_last_leases ON tasks (lease_expires_at)
  WHERE status = 'leased' AND attempt >= max_attempts;
-- ...and queue deadlines of queued tasks.
CREATE INDEX tasks_queue_deadlines ON tasks (queue_expires_at)
  WHERE status = 'queued' AND queue_expires_at IS NOT NULL;
