-- Nodes dying with deliveries in hand, one process per node id, and the services view shared by
-- every node of a cluster. Mirrors migrations/postgres/0006: there, lease times come from the database clock.

-- The node that handed out a task's current delivery (a worker's poll reached it). A delivery
-- claimed through a node whose lease lapsed is given out again at once, not when the task's own
-- lease runs out: that node may have died before its answer reached the worker. NULL: claimed on a
-- single node, or since confirmed by the worker's own heartbeat (the task's lease alone governs).
ALTER TABLE tasks ADD COLUMN node_id TEXT;
-- What the claim reads to find those deliveries: the leased tasks of one node, per service.
CREATE INDEX tasks_by_node ON tasks (node_id, service) WHERE status = 'leased';

-- A random id per process: a second process started under a node id whose lease another process
-- holds is refused (NODE_ID_IN_USE) until that lease lapses. `lease_expires_at` and `started_at`
-- stay the caller's clock here (one process writes this file).
ALTER TABLE nodes ADD COLUMN instance TEXT;

-- Workers seen polling, on whichever node: one row per service and worker, rewritten at most
-- every few seconds per worker (the polling node throttles), pruned once long unseen.
CREATE TABLE workers (
  service      TEXT NOT NULL,
  worker_id    TEXT NOT NULL,
  node_id      TEXT NOT NULL,
  last_seen_at INTEGER NOT NULL,
  PRIMARY KEY (service, worker_id)
);
CREATE INDEX workers_by_last_seen ON workers (last_seen_at);

-- Call outcomes per service and node, flushed by each node every second or so: counters add up
-- (a node adds what it saw since its last flush), latencies are the node's most recent samples
-- (JSON array of ms), in_flight its direct calls under way at its last flush.
CREATE TABLE service_calls (
  service    TEXT NOT NULL,
  node_id    TEXT NOT NULL,
  completed  INTEGER NOT NULL DEFAULT 0,
  failures   INTEGER NOT NULL DEFAULT 0,
  in_flight  INTEGER NOT NULL DEFAULT 0,
  latencies  TEXT NOT NULL DEFAULT '[]',
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (service, node_id)
);
