-- Webhook subscriptions and their deliveries (docs/webhooks.md). Mirrors
-- migrations/sqlite/0008-webhook-subscriptions.sql. Times are the caller's clock (ms).

-- `after_event_id`: the newest event committed when the subscription was made; it receives only
-- events after it. `topics` is a JSON array of patterns; `secret` signs its deliveries.
CREATE TABLE webhook_subscriptions (
  subscription_id TEXT COLLATE "C" PRIMARY KEY,
  topics          TEXT NOT NULL,
  url             TEXT NOT NULL,
  secret          TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  after_event_id  BIGINT NOT NULL
);

-- How far the event log has been fanned out into deliveries, for every subscription at once.
-- One row; moved forward compare-and-set, so two nodes never fan out the same events twice.
CREATE TABLE webhook_cursor (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  event_id BIGINT NOT NULL
);
INSERT INTO webhook_cursor (id, event_id) VALUES (1, 0);

-- One event to deliver to one subscription, until a 2xx (`status` 'delivered'). A sender holds it
-- under `lease_token` until `lease_expires_at`; a sender that dies leaves the lease to lapse and
-- the delivery is attempted again (at least once). `attempts` counts claims, the current included.
CREATE TABLE webhook_deliveries (
  subscription_id  TEXT COLLATE "C" NOT NULL,
  event_id         BIGINT NOT NULL,
  event_key        TEXT NOT NULL,
  topic            TEXT NOT NULL,
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  BIGINT NOT NULL,
  lease_token      TEXT,
  lease_expires_at BIGINT,
  created_at       BIGINT NOT NULL,
  delivered_at     BIGINT,
  PRIMARY KEY (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- What pruning reads: deliveries made long ago are removed with their attempts.
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at) WHERE status = 'delivered';

-- Every attempt made, newest read first: its HTTP status or network error, duration, and when the
-- next one is due (NULL once delivered).
CREATE TABLE webhook_attempts (
  subscription_id TEXT COLLATE "C" NOT NULL,
  event_id        BIGINT NOT NULL,
  attempt         INTEGER NOT NULL,
  event_key       TEXT NOT NULL,
  at              BIGINT NOT NULL,
  duration_ms     BIGINT NOT NULL,
  status_code     INTEGER,
  error           TEXT,
  next_attempt_at BIGINT,
  PRIMARY KEY (subscription_id, event_id, attempt)
);
CREATE INDEX webhook_attempts_by_time ON webhook_attempts (subscription_id, at DESC);
