-- Schedules: a cron expression that starts runs of a workflow (docs/schedules.md). Mirrors
-- migrations/sqlite/0009-schedules.sql.
--
-- Each tick starts the run `{name}:{tick ISO}`: the run id's uniqueness makes a tick start at most
-- one run, however many nodes look at it. `next_fire_at` is the next tick not yet decided; a node
-- advances it with a compare-and-set (UPDATE … WHERE next_fire_at = the value it read), so only
-- one node decides a tick. `pending_ticks` (JSON array of ms) are ticks decided to fire whose runs
-- may not be created yet: the deciding node clears it once they are; a node that died in between
-- leaves it, and any node creates those runs (idempotently) once `pending_since` is stale.
CREATE TABLE schedules (
  name             TEXT COLLATE "C" PRIMARY KEY,
  cron             TEXT NOT NULL,
  timezone         TEXT NOT NULL,
  workflow         TEXT NOT NULL,
  input            TEXT,
  overlap          TEXT NOT NULL,
  catchup          TEXT NOT NULL,
  source           TEXT NOT NULL,
  paused           BOOLEAN NOT NULL DEFAULT false,
  next_fire_at     BIGINT,
  last_tick_at     BIGINT,
  last_run_id      TEXT,
  pending_ticks    TEXT,
  pending_since    BIGINT,
  fired_count      BIGINT NOT NULL DEFAULT 0,
  skipped_count    BIGINT NOT NULL DEFAULT 0,
  last_skipped_at  BIGINT,
  last_skip_reason TEXT,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);
