-- User events in the durable log beside Baton's own (docs/events.md). Mirrors migrations/sqlite/0007.
-- `type` is the topic. `event_key` is the id a user published with (NULL on Baton's own events): at most
-- one event per id, which is what makes publishing idempotent (INSERT ... ON CONFLICT (event_key)).
-- A user event published outside any run has no run_id, workflow or status.
ALTER TABLE events ADD COLUMN event_key TEXT COLLATE "C";
ALTER TABLE events ALTER COLUMN run_id DROP NOT NULL;
ALTER TABLE events ALTER COLUMN workflow DROP NOT NULL;
ALTER TABLE events ALTER COLUMN status DROP NOT NULL;
CREATE UNIQUE INDEX events_by_key ON events (event_key);
-- What a run waiting for an event reads: the log of one topic after the position its wait began at.
CREATE INDEX events_by_type ON events (type, event_id);

-- What a publish wakes: the waiting runs whose waitingOn names the event's topic (ctx.waitForEvent).
-- waiting_on is JSON text written by the engine; only waiting rows are indexed.
CREATE INDEX runs_waiting_for_event ON runs (((waiting_on::jsonb) ->> 'topic')) WHERE status = 'waiting';
