import { Channel, ENDED_SUFFIX } from "./postgres-notifier.js";
import { UnnestSource } from "./postgres-unnest.js";

/**
 * The statement that applies one segment of a batch (see postgres-batch.ts): every kind of write
 * as one array-valued source, so a segment is one round trip however many runs it carries.
 *
 * `op` is the index of an appendRun in the batch; `gate` is the op whose append must succeed in
 * this same statement for a row to apply, or -1 when it applies regardless (a createRun, a
 * signal, or a part whose append already succeeded in an earlier segment).
 */
export const APPENDS = new UnnestSource(
  "a",
  {
    op: "int",
    run_id: "text",
    epoch: "bigint",
    expected_length: "bigint",
    new_length: "bigint",
    status: "text",
    updated_at: "bigint",
    wake_at: "bigint",
    waiting_on: "text",
    set_output: "bool",
    output: "text",
    set_error: "bool",
    error: "text",
    delete_after: "bigint",
  },
  1,
);

export const NEW_RUNS = new UnnestSource(
  "n",
  {
    gate: "int",
    run_id: "text",
    workflow: "text",
    input: "text",
    parent_run_id: "text",
    parent_seq: "bigint",
    created_at: "bigint",
    owner: "text",
    version: "int",
    tags: "text",
  },
  APPENDS.nextParam,
);

/** Journal entries; `is_first` marks a new run's first entry, written only if the run was created. */
export const ENTRIES = new UnnestSource(
  "e",
  {
    gate: "int",
    is_first: "bool",
    run_id: "text",
    position: "bigint",
    seq: "bigint",
    type: "text",
    name: "text",
    data: "text",
    at: "bigint",
  },
  NEW_RUNS.nextParam,
);

export const CONSUMED = new UnnestSource(
  "c",
  { gate: "int", signal_id: "bigint", seq: "bigint" },
  ENTRIES.nextParam,
);

export const SIGNALS = new UnnestSource(
  "s",
  { op: "int", run_id: "text", name: "text", payload: "text", sent_at: "bigint" },
  CONSUMED.nextParam,
  { ordinality: true },
);

export const WAKES = new UnnestSource(
  "w",
  { gate: "int", run_id: "text", at: "bigint" },
  SIGNALS.nextParam,
);

export const TASKS = new UnnestSource(
  "t",
  {
    gate: "int",
    task_key: "text",
    service: "text",
    command: "text",
    input: "text",
    run_id: "text",
    workflow: "text",
    seq: "bigint",
    traceparent: "text",
    lease_ms: "bigint",
    max_attempts: "bigint",
    timeout_ms: "bigint",
    queue_timeout_ms: "bigint",
    visible_at: "bigint",
    created_at: "bigint",
  },
  WAKES.nextParam,
);

export const REQUEUES = new UnnestSource(
  "q",
  { gate: "int", task_key: "text", visible_at: "bigint" },
  TASKS.nextParam,
);

export const WITHDRAWALS = new UnnestSource(
  "d",
  { gate: "int", task_key: "text", now: "bigint" },
  REQUEUES.nextParam,
);

export const EVENTS = new UnnestSource(
  "v",
  {
    gate: "int",
    type: "text",
    event_key: "text",
    run_id: "text",
    workflow: "text",
    status: "text",
    data: "text",
    at: "bigint",
  },
  WITHDRAWALS.nextParam,
  { ordinality: true },
);

/**
 * Key of the advisory lock that orders event ids: writers hold it shared from before they draw
 * ids until they commit; readEvents takes it exclusively, so everything it can see below the
 * highest id it returns has committed (no later commit can fill a gap behind a reader's cursor).
 */
export const EVENTS_LOCK = 0x6261746f6e01; // "baton" + 1

/** Key of the advisory lock under which migrations run. */
export const MIGRATIONS_LOCK = 0x6261746f6e02;

const NON_TERMINAL = "('pending', 'running', 'waiting', 'compensating')";
const TERMINAL = "('completed', 'compensated', 'failed', 'cancelled')";

/** Whether a gated row applies: ungated, or its append matched in this statement. */
function applies(alias: string): string {
  return `(${alias}.gate < 0 OR ${alias}.gate IN (SELECT op FROM appended))`;
}

export const COMMIT_SEGMENT_SQL = `
WITH appended AS (
  -- Fencing: the append applies only while the run is still at the epoch the writer holds and
  -- its journal ends where the writer thinks. No match means another node owns the run now (or
  -- wrote first): that op reports LEASE_LOST and the rest of the batch applies. The row lock is
  -- held until commit: a concurrent writer of the same run waits, then re-checks epoch and
  -- length against the committed row (READ COMMITTED re-evaluation) and is fenced off.
  UPDATE runs r SET
    status = a.status, updated_at = a.updated_at, wake_at = a.wake_at, waiting_on = a.waiting_on,
    journal_length = a.new_length, delete_after = a.delete_after,
    output = CASE WHEN a.set_output THEN a.output ELSE r.output END,
    error = CASE WHEN a.set_error THEN a.error ELSE r.error END
  FROM ${APPENDS.sql}
  WHERE r.run_id = a.run_id AND r.epoch = a.epoch AND r.journal_length = a.expected_length
  RETURNING a.op, a.run_id, a.status
), created AS (
  -- Idempotent creation: a run id in use leaves that run as it is. Against a concurrent creator of
  -- the same id this waits for its commit, then does nothing.
  INSERT INTO runs (run_id, workflow, status, input, parent_run_id, parent_seq, created_at, updated_at, journal_length, owner, version, tags)
  SELECT n.run_id, n.workflow, 'pending', n.input, n.parent_run_id, n.parent_seq, n.created_at, n.created_at, 1, n.owner, n.version, n.tags
  FROM ${NEW_RUNS.sql}
  WHERE ${applies("n")}
  ON CONFLICT (run_id) DO NOTHING
  RETURNING run_id, created_at, tags
), tagged AS (
  -- The search index of a run created now (never of one that existed: its tags stay as they were).
  INSERT INTO run_tags (run_id, key, value, created_at)
  SELECT c.run_id, t.key, t.value, c.created_at
  FROM created c CROSS JOIN LATERAL json_each_text(c.tags::json) t
  WHERE c.tags IS NOT NULL
), journaled AS (
  INSERT INTO journal (run_id, position, seq, type, name, data, at)
  SELECT e.run_id, e.position, e.seq, e.type, e.name, e.data, e.at
  FROM ${ENTRIES.sql}
  WHERE CASE WHEN e.is_first THEN e.run_id IN (SELECT run_id FROM created) ELSE ${applies("e")} END
), consumed AS (
  UPDATE signals g SET consumed_seq = c.seq
  FROM ${CONSUMED.sql}
  WHERE g.signal_id = c.signal_id AND g.consumed_seq IS NULL AND ${applies("c")}
), new_signals AS (
  -- Ids in the order of the batch: the target list (nextval) is evaluated after ORDER BY.
  SELECT nextval('signals_signal_id_seq') AS signal_id, s.op, s.run_id, s.name, s.payload, s.sent_at
  FROM ${SIGNALS.sql}
  ORDER BY s.ord
), signalled AS (
  INSERT INTO signals (signal_id, run_id, name, payload, sent_at)
  SELECT signal_id, run_id, name, payload, sent_at FROM new_signals
), woken AS (
  -- A signal or a child's end marks the run due at that time, so a restart cannot lose the
  -- reason to wake it. LEAST ignores NULL, so an earlier wake-up is never pushed back.
  UPDATE runs r SET wake_at = LEAST(r.wake_at, w.at)
  FROM (SELECT w.run_id, min(w.at) AS at FROM ${WAKES.sql} WHERE ${applies("w")} GROUP BY w.run_id) w
  WHERE r.run_id = w.run_id AND r.status IN ${NON_TERMINAL}
  RETURNING r.run_id
), enqueued AS (
  -- The task key is the call's idempotency key: a replayed enqueue of the same call is a no-op.
  INSERT INTO tasks (task_key, service, command, input, run_id, workflow, seq, traceparent, status, lease_ms,
    max_attempts, timeout_ms, queue_timeout_ms, queue_expires_at, visible_at, created_at, updated_at)
  SELECT t.task_key, t.service, t.command, t.input, t.run_id, t.workflow, t.seq, t.traceparent, 'queued', t.lease_ms,
    t.max_attempts, t.timeout_ms, t.queue_timeout_ms, t.visible_at + t.queue_timeout_ms, t.visible_at, t.created_at, t.created_at
  FROM ${TASKS.sql}
  WHERE ${applies("t")}
  ON CONFLICT (task_key) DO NOTHING
  RETURNING service
), requeued AS (
  -- attempt and delivery_tokens stay: attempts count every delivery, and an earlier delivery's
  -- late reply is still told apart (lost) from a guessed one (not found). A delivery a worker
  -- holds is never cut off: its reply (or its expiry) comes first.
  UPDATE tasks k SET status = 'queued', visible_at = q.visible_at, queue_expires_at = q.visible_at + k.queue_timeout_ms,
    delivery_id = NULL, worker_id = NULL,
    lease_expires_at = NULL, output = NULL, error = NULL, retryable = NULL, updated_at = q.visible_at
  FROM ${REQUEUES.sql}
  WHERE k.task_key = q.task_key AND k.status NOT IN ('leased', 'withdrawing') AND ${applies("q")}
  RETURNING k.service
), withdrawn AS (
  -- A queued task is never delivered; a leased one is never delivered again, but its worker may
  -- still reply while the lease lives, and expireTasks ends it when the lease runs out.
  UPDATE tasks k SET status = CASE k.status WHEN 'queued' THEN 'withdrawn' ELSE 'withdrawing' END, updated_at = d.now
  FROM ${WITHDRAWALS.sql}
  WHERE k.task_key = d.task_key AND k.status IN ('queued', 'leased') AND ${applies("d")}
), new_events AS (
  SELECT nextval('events_event_id_seq') AS event_id, v.type, v.event_key, v.run_id, v.workflow, v.status, v.data, v.at
  FROM ${EVENTS.sql}
  -- Taken once (an InitPlan), before any id is drawn, and held until commit (see EVENTS_LOCK);
  -- not at all by a batch without events.
  WHERE (SELECT pg_advisory_xact_lock_shared(${EVENTS_LOCK}) WHERE cardinality($${EVENTS.firstParam}::int[]) > 0) IS NOT NULL
    AND ${applies("v")}
  ORDER BY v.ord
), logged AS (
  -- A user event's id is its idempotency key: an id already in the log writes nothing (a drawn
  -- position is then skipped, which readers never notice).
  INSERT INTO events (event_id, type, event_key, run_id, workflow, status, data, at)
  SELECT event_id, type, event_key, run_id, workflow, status, data, at FROM new_events
  ON CONFLICT (event_key) DO NOTHING
  RETURNING type, event_key, at
), event_woken AS (
  -- A new user event marks the runs waiting for its topic due (ctx.waitForEvent; they read the log
  -- when woken). Never a run this statement appends to: one row is updated once per statement.
  UPDATE runs r SET wake_at = LEAST(r.wake_at, l.at)
  FROM (SELECT type, min(at) AS at FROM logged WHERE event_key IS NOT NULL GROUP BY type) l
  WHERE r.status = 'waiting' AND ((r.waiting_on::jsonb) ->> 'topic') = l.type
    AND r.run_id NOT IN (SELECT run_id FROM appended)
  RETURNING r.run_id
), notified AS (
  -- NOTIFY is transactional: listeners hear of these only once the batch has committed, and
  -- identical notifications of one transaction are delivered once. see Channel.
  SELECT pg_notify('${Channel.Tasks}', service) FROM (SELECT service FROM enqueued UNION SELECT service FROM requeued) q
  UNION ALL
  SELECT pg_notify('${Channel.Runs}', run_id) FROM woken
  UNION ALL
  SELECT pg_notify('${Channel.Runs}', run_id) FROM event_woken
  UNION ALL
  SELECT pg_notify('${Channel.Runs}', run_id || '${ENDED_SUFFIX}') FROM appended WHERE status IN ${TERMINAL}
)
SELECT 'appended' AS kind, op, NULL::text AS run_id, NULL::bigint AS signal_id FROM appended
UNION ALL SELECT 'created', NULL, run_id, NULL FROM created
UNION ALL SELECT 'signalled', op, NULL, signal_id FROM new_signals
UNION ALL SELECT 'notified', count(*)::int, NULL, NULL FROM notified`;

/** Everything the segment statement reports. */
export interface SegmentResultRow {
  kind: "appended" | "created" | "signalled" | "notified";
  op: number | null;
  run_id: string | null;
  signal_id: number | null;
}
