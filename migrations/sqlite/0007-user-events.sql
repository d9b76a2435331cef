-- User events in the durable log beside Baton's own (docs/events.md). Mirrors migrations/postgres/0007.
-- `type` is the topic. `event_key` is the id a user published with (NULL on Baton's own events): at most
-- one event per id, which is what makes publishing idempotent. A user event published outside any
-- run has no run_id, workflow or status, so those become nullable: SQLite cannot drop NOT NULL in
-- place, so the table is rebuilt with its rows and ids.
CREATE TABLE events_v7 (
  event_id  INTEGER PRIMARY KEY AUTOINCREMENT,
  type      TEXT NOT NULL,
  event_key TEXT,
  run_id    TEXT,
  workflow  TEXT,
  status    TEXT,
  data      TEXT,
  at        INTEGER NOT NULL
);
INSERT INTO events_v7 (event_id, type, run_id, workflow, status, data, at)
  SELECT event_id, type, run_id, workflow, status, data, at FROM events ORDER BY event_id;
-- Positions are never reused, even those of deleted events: the new table's AUTOINCREMENT counter
-- starts where the old one stopped (the counter's row follows the table's rename).
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'events_v7', seq FROM sqlite_sequence
  WHERE name = 'events' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_v7');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'events'))
  WHERE name = 'events_v7';
DROP TABLE events;
ALTER TABLE events_v7 RENAME TO events;
CREATE UNIQUE INDEX events_by_key ON events (event_key);
-- What a run waiting for an event reads: the log of one topic after the position its wait began at.
CREATE INDEX events_by_type ON events (type, event_id);

-- What a publish wakes: the waiting runs whose waitingOn names the event's topic (ctx.waitForEvent).
CREATE INDEX runs_waiting_for_event ON runs (json_extract(waiting_on, '$.topic')) WHERE status = 'waiting';
