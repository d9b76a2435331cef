import type pg from "pg";
import type { TaskClaim, TaskRecord, TaskReply, TaskReplyResult, TaskStatus } from "../store.js";
import { Channel } from "./postgres-notifier.js";
import { compareText } from "./postgres-errors.js";
import {
  hasLiveLease,
  isDeliveryOf,
  taskKeyOfDelivery,
  toTaskRecord,
  type TaskRow,
} from "../rows.js";

type Query = <R extends pg.QueryResultRow>(sql: string, values: unknown[]) => Promise<R[]>;

const NON_TERMINAL = "('pending', 'running', 'waiting', 'compensating')";

/**
 * The database's clock in ms since the epoch, the one clock every node lease is written and
 * checked with: nodes' own clocks may disagree, the database's is one. statement_timestamp() is
 * fixed for the statement (one value however many rows compare with it).
 */
export const DB_NOW_MS = "(extract(epoch from statement_timestamp()) * 1000)::bigint";

/**
 * Leases the oldest deliverable tasks: queued and visible, or leased with an expired lease and
 * deliveries left (the last delivery's expiry is EXPIRE_SQL's to end, never redelivered), or
 * leased with deliveries left through a node whose lease lapsed on the database's clock (it may
 * have died before its answer reached the worker). That last list starts from the lapsed nodes —
 * usually none — and reads tasks_by_node, so a busy queue with live nodes pays nothing for it.
 *
 * Several nodes claim at once without blocking one another or delivering a task twice: each
 * candidate list locks its rows `FOR UPDATE SKIP LOCKED`, so rows another claim holds are
 * passed over rather than waited for. A row that another claim changed and committed after
 * this statement's snapshot is re-checked against the WHERE clause on its new version (READ
 * COMMITTED), so a task just leased by someone else no longer qualifies. Each list takes up to
 * `max` rows from its own index in ready order; the oldest `max` of both are leased, and the
 * extra rows locked stay untouched, released at commit — the end of this statement.
 *
 * `chosen` draws one random token per delivery (gen_random_uuid: 122 random bits; built in since
 * PostgreSQL 13); a volatile function keeps the CTE materialized, so both uses see one token.
 */
const CLAIM_SQL = `
WITH queued AS (
  SELECT task_key, visible_at AS ready_at FROM tasks
  WHERE service = $1 AND status = 'queued' AND visible_at <= $2
  ORDER BY visible_at LIMIT $3
  FOR UPDATE SKIP LOCKED
), expired AS (
  SELECT task_key, lease_expires_at AS ready_at FROM tasks
  WHERE service = $1 AND status = 'leased' AND lease_expires_at <= $2 AND attempt < max_attempts
  ORDER BY lease_expires_at LIMIT $3
  FOR UPDATE SKIP LOCKED
), orphaned AS (
  SELECT task_key, claimed_at AS ready_at FROM tasks
  WHERE node_id IN (SELECT node_id FROM nodes WHERE lease_expires_at <= ${DB_NOW_MS})
    AND service = $1 AND status = 'leased' AND lease_expires_at > $2 AND attempt < max_attempts
  ORDER BY claimed_at LIMIT $3
  FOR UPDATE SKIP LOCKED
), chosen AS (
  SELECT task_key, ready_at, replace(gen_random_uuid()::text, '-', '') AS token
  FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired UNION ALL SELECT * FROM orphaned
        ORDER BY ready_at LIMIT $3) ready
)
UPDATE tasks t SET status = 'leased', attempt = t.attempt + 1,
  delivery_id = t.task_key || '@' || (t.attempt + 1) || '.' || chosen.token,
  delivery_tokens = CASE t.delivery_tokens WHEN '' THEN chosen.token ELSE t.delivery_tokens || ' ' || chosen.token END,
  worker_id = $4, claimed_at = $2, node_id = $5,
  -- LEAST ignores NULL: without a timeout the lease alone bounds the delivery
  lease_expires_at = $2 + LEAST(t.lease_ms, t.timeout_ms), updated_at = $2
FROM chosen WHERE t.task_key = chosen.task_key
RETURNING t.*, chosen.ready_at`;

/**
 * Records a reply if, and only if, the delivery is the task's current one and its lease is live
 * (a lease never runs past the delivery's timeout, so that is bounded too; a withdrawing task's
 * worker may still reply); in the same statement the run is marked due and told (NOTIFY, at
 * commit), so a crash between recording the reply and waking the run cannot lose it. The row
 * lock makes a concurrent second reply (or an expiry) wait, then re-check, then find the task
 * no longer in a worker's hands.
 */
const SETTLE_SQL = `
WITH settled AS (
  UPDATE tasks SET status = $3, output = $4, error = $5, retryable = $6, lease_expires_at = NULL, updated_at = $7
  WHERE task_key = $1 AND delivery_id = $2 AND status IN ('leased', 'withdrawing') AND lease_expires_at > $7
  RETURNING *
), woken AS (
  UPDATE runs r SET wake_at = LEAST(r.wake_at, $7)
  FROM settled WHERE r.run_id = settled.run_id AND r.status IN ${NON_TERMINAL}
  RETURNING r.run_id
), notified AS (
  SELECT pg_notify('${Channel.Runs}', run_id) FROM woken
)
SELECT settled.*, (SELECT count(*) FROM notified) AS notified FROM settled`;

/**
 * Extends a live lease, never past the delivery's timeout (LEAST ignores a NULL bound). The worker
 * has the delivery, so the node it came through no longer matters (node_id = NULL).
 */
const HEARTBEAT_SQL = `
UPDATE tasks SET lease_expires_at = LEAST($3 + lease_ms, claimed_at + timeout_ms), node_id = NULL, updated_at = $3
WHERE task_key = $1 AND delivery_id = $2 AND status IN ('leased', 'withdrawing') AND lease_expires_at > $3
  AND (timeout_ms IS NULL OR claimed_at + timeout_ms > $3)
RETURNING lease_expires_at`;

const UNKNOWN = "whether it took effect is unknown";

/**
 * Ends what no reply can settle any more, earliest first: withdrawing tasks and last deliveries
 * whose lease expired become `expired` (not retryable), queued tasks past their queue deadline
 * `failed` (QUEUE_TIMEOUT, retryable). Each list reads its own partial index and locks its rows
 * `FOR UPDATE SKIP LOCKED`: nodes sweeping at once share the work instead of waiting, and a row
 * that a reply or a claim changed after this statement's snapshot is re-checked on its new
 * version, so a task settled meanwhile is left alone. As SETTLE_SQL, the runs are marked due and
 * told in the same statement. The messages are SqliteTasks' expiryError, word for word.
 */
const EXPIRE_SQL = `
WITH withdrawing AS (
  SELECT task_key, lease_expires_at AS due_at FROM tasks
  WHERE status = 'withdrawing' AND lease_expires_at <= $1
  ORDER BY lease_expires_at LIMIT $2
  FOR UPDATE SKIP LOCKED
), last_leases AS (
  SELECT task_key, lease_expires_at AS due_at FROM tasks
  WHERE status = 'leased' AND attempt >= max_attempts AND lease_expires_at <= $1
  ORDER BY lease_expires_at LIMIT $2
  FOR UPDATE SKIP LOCKED
), queue_deadlines AS (
  SELECT task_key, queue_expires_at AS due_at FROM tasks
  WHERE status = 'queued' AND queue_expires_at IS NOT NULL AND queue_expires_at <= $1
  ORDER BY queue_expires_at LIMIT $2
  FOR UPDATE SKIP LOCKED
), chosen AS (
  SELECT * FROM withdrawing UNION ALL SELECT * FROM last_leases UNION ALL SELECT * FROM queue_deadlines
  ORDER BY due_at, task_key LIMIT $2
), expired AS (
  UPDATE tasks t SET
    status = CASE t.status WHEN 'queued' THEN 'failed' ELSE 'expired' END,
    retryable = (t.status = 'queued'),
    error = (CASE
      WHEN t.status = 'queued' THEN json_build_object('code', 'QUEUE_TIMEOUT', 'message',
        format('task %s (%s.%s): no worker claimed it within %s ms', t.task_key, t.service, t.command, t.queue_timeout_ms))
      WHEN t.lease_expires_at >= t.claimed_at + t.timeout_ms THEN json_build_object('code', 'STEP_TIMEOUT', 'message',
        format('task %s (%s.%s): delivery %s had no reply within its timeout of %s ms; ${UNKNOWN}',
          t.task_key, t.service, t.command, t.attempt, t.timeout_ms))
      WHEN t.status = 'withdrawing' THEN json_build_object('code', 'LEASE_EXPIRED', 'message',
        format('task %s (%s.%s): withdrawn while delivery %s was with a worker, which sent no reply within its lease; ${UNKNOWN}',
          t.task_key, t.service, t.command, t.attempt))
      ELSE json_build_object('code', 'LEASE_EXPIRED', 'message',
        format('task %s (%s.%s): delivery %s of %s had no reply within its lease; ${UNKNOWN}',
          t.task_key, t.service, t.command, t.attempt, t.max_attempts))
    END)::text,
    updated_at = $1
  FROM chosen
  WHERE t.task_key = chosen.task_key AND t.status IN ('withdrawing', 'leased', 'queued')
  RETURNING t.*, chosen.due_at
), woken AS (
  UPDATE runs r SET wake_at = LEAST(r.wake_at, $1)
  FROM (SELECT DISTINCT run_id FROM expired) e WHERE r.run_id = e.run_id AND r.status IN ${NON_TERMINAL}
  RETURNING r.run_id
), notified AS (
  SELECT pg_notify('${Channel.Runs}', run_id) FROM woken
)
SELECT expired.*, (SELECT count(*) FROM notified) AS notified FROM expired`;

/** The durable queue's SQL for PostgreSQL; each method is one autocommitted statement or a read. */
export class PostgresTasks {
  constructor(private readonly query: Query) {}

  async claim(claim: TaskClaim): Promise<TaskRecord[]> {
    if (claim.max <= 0) return [];
    const rows = await this.query<TaskRow & { ready_at: number }>(CLAIM_SQL, [
      claim.service,
      claim.now,
      claim.max,
      claim.workerId,
      claim.nodeId ?? null,
    ]);
    // Oldest ready first, as the SQLite store returns them; the run id breaks ties.
    rows.sort((a, b) => a.ready_at - b.ready_at || compareText(a.task_key, b.task_key));
    return rows.map(toTaskRecord);
  }

  async settle(reply: TaskReply): Promise<TaskReplyResult> {
    const taskKey = taskKeyOfDelivery(reply.deliveryId);
    if (taskKey === undefined) return { outcome: "not_found" };
    // A reply that loses the race to a heartbeat's re-check settles on the next round.
    for (;;) {
      const [row] = await this.query<TaskRow>(SETTLE_SQL, [
        taskKey,
        reply.deliveryId,
        reply.outcome,
        reply.output ?? null,
        reply.error ? JSON.stringify(reply.error) : null,
        reply.retryable ?? null,
        reply.now,
      ]);
      if (row) return { outcome: "settled", task: toTaskRecord(row) };
      const current = await this.byDelivery(reply.deliveryId, taskKey);
      if (!current) return { outcome: "not_found" };
      const task = toTaskRecord(current);
      const isCurrent = task.deliveryId === reply.deliveryId;
      if (isCurrent && task.status === reply.outcome) return { outcome: "duplicate", task };
      if (!isCurrent || !hasLiveLease(current, reply.now)) return { outcome: "lost", task };
    }
  }

  async heartbeat(
    deliveryId: string,
    now: number,
  ): Promise<{ outcome: "ok"; leaseExpiresAt: number } | { outcome: "lost" | "not_found" }> {
    const taskKey = taskKeyOfDelivery(deliveryId);
    if (taskKey === undefined) return { outcome: "not_found" };
    const [row] = await this.query<{ lease_expires_at: number }>(HEARTBEAT_SQL, [
      taskKey,
      deliveryId,
      now,
    ]);
    if (row) return { outcome: "ok", leaseExpiresAt: row.lease_expires_at };
    // Not extended: an unknown delivery, or one whose lease expired or that moved on.
    return (await this.byDelivery(deliveryId, taskKey))
      ? { outcome: "lost" }
      : { outcome: "not_found" };
  }

  async expire(now: number, limit: number): Promise<TaskRecord[]> {
    if (limit <= 0) return [];
    const rows = await this.query<TaskRow & { due_at: number }>(EXPIRE_SQL, [now, limit]);
    rows.sort((a, b) => a.due_at - b.due_at || compareText(a.task_key, b.task_key));
    return rows.map(toTaskRecord);
  }

  async nextExpiry(): Promise<number | undefined> {
    const [row] = await this.query<{ at: number | null }>(
      // One partial index each (see migrations 0005).
      `SELECT LEAST(
         (SELECT min(lease_expires_at) FROM tasks WHERE status = 'withdrawing'),
         (SELECT min(lease_expires_at) FROM tasks WHERE status = 'leased' AND attempt >= max_attempts),
         (SELECT min(queue_expires_at) FROM tasks WHERE status = 'queued' AND queue_expires_at IS NOT NULL)) AS at`,
      [],
    );
    return row?.at ?? undefined;
  }

  async find(taskKey: string): Promise<TaskRecord | undefined> {
    const row = await this.findRow(taskKey);
    return row && toTaskRecord(row);
  }

  private async findRow(taskKey: string): Promise<TaskRow | undefined> {
    const [row] = await this.query<TaskRow>("SELECT * FROM tasks WHERE task_key = $1", [taskKey]);
    return row;
  }

  /** The task a delivery id names, current delivery or an earlier one; never for a wrong token. */
  private async byDelivery(deliveryId: string, taskKey: string): Promise<TaskRow | undefined> {
    const row = await this.findRow(taskKey);
    return row && isDeliveryOf(row, deliveryId) ? row : undefined;
  }

  async nextVisibleAt(service: string, now?: number, nodeId?: string): Promise<number | undefined> {
    const [row] = await this.query<{ at: number | null }>(
      // A node lease is on the database's clock: moved onto the caller's by the difference of
      // the two presents. One probe of tasks_by_node per node.
      `SELECT LEAST(
         (SELECT min(visible_at) FROM tasks WHERE service = $1 AND status = 'queued'),
         (SELECT min(lease_expires_at) FROM tasks
          WHERE service = $1 AND status = 'leased' AND attempt < max_attempts),
         (SELECT min(n.lease_expires_at) - ${DB_NOW_MS} + $2::bigint FROM nodes n
          WHERE $2::bigint IS NOT NULL AND n.node_id IS DISTINCT FROM $3::text AND EXISTS (
            SELECT 1 FROM tasks t WHERE t.node_id = n.node_id AND t.service = $1 AND t.status = 'leased'
              AND t.attempt < t.max_attempts))) AS at`,
      [service, now ?? null, nodeId ?? null],
    );
    return row?.at ?? undefined;
  }

  /**
   * A new process took the node id over (renewNode): the deliveries its predecessor handed out
   * may never have reached their workers. Their leases end now on the caller's clock, and the
   * services' pollers are told, so the next claim delivers them again (a last delivery is
   * EXPIRE_SQL's to end). The row locks make a concurrent reply wait and re-check.
   */
  async releaseDeliveriesOf(nodeId: string, now: number): Promise<void> {
    await this.query(
      `WITH released AS (
         UPDATE tasks SET lease_expires_at = $2, node_id = NULL, updated_at = $2
         WHERE node_id = $1 AND status = 'leased' AND attempt < max_attempts AND lease_expires_at > $2
         RETURNING service
       )
       SELECT pg_notify('${Channel.Tasks}', service) FROM (SELECT DISTINCT service FROM released) s`,
      [nodeId, now],
    );
  }

  counts(): Promise<Array<{ service: string; status: TaskStatus; count: number }>> {
    return this.query(
      // Scans of partial indexes only: finished tasks, however many, cost nothing here.
      `SELECT service, 'queued' AS status, count(*)::int AS count FROM tasks WHERE status = 'queued' GROUP BY service
       UNION ALL
       SELECT service, 'leased' AS status, count(*)::int AS count FROM tasks WHERE status = 'leased' GROUP BY service
       UNION ALL
       SELECT service, 'withdrawing' AS status, count(*)::int AS count FROM tasks WHERE status = 'withdrawing' GROUP BY service`,
      [],
    );
  }
}
