-- Runs, their journals, signals waiting to be consumed, and the durable event log.

CREATE TABLE runs (
  run_id         TEXT PRIMARY KEY,
  workflow       TEXT NOT NULL,
  status         TEXT NOT NULL,
  input          TEXT,
  output         TEXT,
  error          TEXT,
  parent_run_id  TEXT,
  parent_seq     INTEGER,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  -- When the run must be picked up again (a timer, a retry, a signal or child result that
  -- arrived); NULL while it waits on nothing that has a time.
  wake_at        INTEGER,
  waiting_on     TEXT,
  -- Next free journal position: appends are checked against it, so two writers cannot interleave.
  journal_length INTEGER NOT NULL DEFAULT 0,
  -- Fencing token for multi-node ownership (leases).
  epoch          INTEGER NOT NULL DEFAULT 0
);

-- Newest first, overall and per filter; the run id breaks ties and makes cursors exact.
CREATE INDEX runs_by_created ON runs (created_at DESC, run_id DESC);
CREATE INDEX runs_by_workflow ON runs (workflow, created_at DESC, run_id DESC);
CREATE INDEX runs_by_status ON runs (status, created_at DESC, run_id DESC);
CREATE INDEX runs_by_wake ON runs (wake_at) WHERE wake_at IS NOT NULL;

-- Clustered by run: reading one run's journal is one range scan.
CREATE TABLE journal (
  run_id   TEXT NOT NULL,
  position INTEGER NOT NULL,
  seq      INTEGER,
  type     TEXT NOT NULL,
  name     TEXT,
  data     TEXT,
  at       INTEGER NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

CREATE TABLE signals (
  signal_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id       TEXT NOT NULL,
  name         TEXT NOT NULL,
  payload      TEXT,
  sent_at      INTEGER NOT NULL,
  consumed_seq INTEGER
);
CREATE INDEX signals_pending ON signals (run_id, signal_id) WHERE consumed_seq IS NULL;

CREATE TABLE events (
  event_id INTEGER PRIMARY KEY AUTOINCREMENT,
  type     TEXT NOT NULL,
  run_id   TEXT NOT NULL,
  workflow TEXT NOT NULL,
  status   TEXT NOT NULL,
  data     TEXT,
  at       INTEGER NOT NULL
);
