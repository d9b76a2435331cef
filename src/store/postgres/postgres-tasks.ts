import type pg from "pg";
import type { TaskClaim, TaskRecord, TaskReply, TaskReplyResult, TaskStatus } from "../store.js";
import { Channel } from "./postgres-notifier.js";
import { toTaskRecord, type TaskRow } from "../rows.js";

type Query = <R extends pg.QueryResultRow>(sql: string, values: unknown[]) => Promise<R[]>;

const NON_TERMINAL = "('pending', 'running', 'waiting', 'compensating')";

/**
 * Leases the oldest deliverable tasks: queued and visible, or leased with an expired lease.
 *
 * Several nodes claim at once without blocking one another or delivering a task twice: each
 * candidate list locks its rows `FOR UPDATE SKIP LOCKED`, so rows another claim holds are
 * passed over rather than waited for. A row that another claim changed and committed after
 * this statement's snapshot is re-checked against the WHERE clause on its new version (READ
 * COMMITTED), so a task just leased by someone else no longer qualifies. Each list takes up to
 * `max` rows from its own index in ready order; the oldest `max` of both are leased, and the
 * extra rows locked stay untouched, released at commit — the end of this statement.
 */
const CLAIM_SQL = `
WITH queued AS (
  SELECT task_key, visible_at AS ready_at FROM tasks
  WHERE service = $1 AND status = 'queued' AND visible_at <= $2
  ORDER BY visible_at LIMIT $3
  FOR UPDATE SKIP LOCKED
), expired AS (
  SELECT task_key, lease_expires_at AS ready_at FROM tasks
  WHERE service = $1 AND status = 'leased' AND lease_expires_at <= $2
  ORDER BY lease_expires_at LIMIT $3
  FOR UPDATE SKIP LOCKED
), chosen AS (
  SELECT task_key, ready_at FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) ready
  ORDER BY ready_at LIMIT $3
)
UPDATE tasks t SET status = 'leased', attempt = t.attempt + 1, delivery_id = t.task_key || '@' || (t.attempt + 1),
  worker_id = $4, lease_expires_at = $2 + t.lease_ms, updated_at = $2
FROM chosen WHERE t.task_key = chosen.task_key
RETURNING t.*, chosen.ready_at`;

/**
 * Records a reply if, and only if, the delivery is the task's current one and its lease is live;
 * in the same statement the run is marked due and told (NOTIFY, at commit), so a crash between
 * recording the reply and waking the run cannot lose it. The row lock makes a concurrent
 * second reply wait, then re-check, then find the task no longer leased.
 */
const SETTLE_SQL = `
WITH settled AS (
  UPDATE tasks SET status = $3, output = $4, error = $5, retryable = $6, lease_expires_at = NULL, updated_at = $7
  WHERE task_key = $1 AND delivery_id = $2 AND status = 'leased' AND lease_expires_at > $7
  RETURNING *
), woken AS (
  UPDATE runs r SET wake_at = LEAST(r.wake_at, $7)
  FROM settled WHERE r.run_id = settled.run_id AND r.status IN ${NON_TERMINAL}
  RETURNING r.run_id
), notified AS (
  SELECT pg_notify('${Channel.Runs}', run_id) FROM woken
)
SELECT settled.*, (SELECT count(*) FROM notified) AS notified FROM settled`;

const HEARTBEAT_SQL = `
UPDATE tasks SET lease_expires_at = $3 + lease_ms, updated_at = $3
WHERE task_key = $1 AND delivery_id = $2 AND status = 'leased' AND lease_expires_at > $3
RETURNING lease_expires_at`;

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
    ]);
    // Oldest ready first, as the SQLite store returns them; the run id breaks ties.
    rows.sort((a, b) => a.ready_at - b.ready_at || compare(a.task_key, b.task_key));
    return rows.map(toTaskRecord);
  }

  async settle(reply: TaskReply): Promise<TaskReplyResult> {
    const taskKey = taskKeyOf(reply.deliveryId);
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
      const task = await this.byDelivery(reply.deliveryId, taskKey);
      if (!task) return { outcome: "not_found" };
      const isCurrent = task.deliveryId === reply.deliveryId;
      if (isCurrent && task.status === reply.outcome) return { outcome: "duplicate", task };
      if (!isCurrent || task.status !== "leased" || (task.leaseExpiresAt ?? 0) <= reply.now) {
        return { outcome: "lost", task };
      }
    }
  }

  async heartbeat(
    deliveryId: string,
    now: number,
  ): Promise<{ outcome: "ok"; leaseExpiresAt: number } | { outcome: "lost" | "not_found" }> {
    const taskKey = taskKeyOf(deliveryId);
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

  async find(taskKey: string): Promise<TaskRecord | undefined> {
    const [row] = await this.query<TaskRow>("SELECT * FROM tasks WHERE task_key = $1", [taskKey]);
    return row && toTaskRecord(row);
  }

  /** The task a delivery names, current delivery or not; undefined if it never existed. */
  private async byDelivery(deliveryId: string, taskKey: string): Promise<TaskRecord | undefined> {
    const task = await this.find(taskKey);
    const attempt = Number(deliveryId.slice(taskKey.length + 1));
    return task && attempt <= task.attempt ? task : undefined;
  }

  async nextVisibleAt(service: string): Promise<number | undefined> {
    const [row] = await this.query<{ at: number | null }>(
      `SELECT LEAST(
         (SELECT min(visible_at) FROM tasks WHERE service = $1 AND status = 'queued'),
         (SELECT min(lease_expires_at) FROM tasks WHERE service = $1 AND status = 'leased')) AS at`,
      [service],
    );
    return row?.at ?? undefined;
  }

  counts(): Promise<Array<{ service: string; status: TaskStatus; count: number }>> {
    return this.query(
      // Two scans of the partial indexes: finished tasks, however many, cost nothing here.
      `SELECT service, 'queued' AS status, count(*)::int AS count FROM tasks WHERE status = 'queued' GROUP BY service
       UNION ALL
       SELECT service, 'leased' AS status, count(*)::int AS count FROM tasks WHERE status = 'leased' GROUP BY service`,
      [],
    );
  }
}

/**
 * A delivery id is `{taskKey}@{attempt}` ('@' never occurs in run ids), so an old delivery is
 * told apart from an unknown one; anything else names no task.
 */
function taskKeyOf(deliveryId: string): string | undefined {
  const at = deliveryId.lastIndexOf("@");
  if (at <= 0 || !/^\d+$/.test(deliveryId.slice(at + 1))) return undefined;
  return deliveryId.slice(0, at);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
