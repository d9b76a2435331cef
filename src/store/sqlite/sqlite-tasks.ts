import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import type { ErrorData } from "../../common/index.js";
import {
  hasLiveLease,
  isDeliveryOf,
  taskKeyOfDelivery,
  timeoutAt,
  toTaskRecord,
  type TaskRow,
} from "../rows.js";
import type {
  NewTask,
  TaskClaim,
  TaskRecord,
  TaskReply,
  TaskReplyResult,
  TaskStatus,
} from "../store.js";

type Prepare = (sql: string) => Database.Statement;

/** The durable queue's SQL for SQLite; every method runs inside the caller's transaction. */
export class SqliteTasks {
  constructor(private readonly prepare: Prepare) {}

  insert(task: NewTask): void {
    // The key is the idempotency key: a replayed enqueue of the same call is a no-op.
    this.prepare(
      `INSERT INTO tasks (task_key, service, command, input, run_id, workflow, seq, traceparent, status, lease_ms,
         max_attempts, timeout_ms, queue_timeout_ms, queue_expires_at, visible_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ? + ?, ?, ?, ?) ON CONFLICT (task_key) DO NOTHING`,
    ).run(
      task.taskKey,
      task.service,
      task.command,
      task.input,
      task.runId,
      task.workflow,
      task.seq,
      task.traceparent,
      task.leaseMs,
      task.maxAttempts,
      task.timeoutMs,
      task.queueTimeoutMs,
      task.visibleAt,
      task.queueTimeoutMs,
      task.visibleAt,
      task.createdAt,
      task.createdAt,
    );
  }

  requeue(taskKey: string, visibleAt: number): void {
    // attempt and delivery_tokens stay: attempts count every delivery, and an earlier delivery's
    // late reply is still told apart (lost) from a guessed one (not found). A delivery a worker
    // holds is never cut off: its reply (or its expiry) comes first.
    this.prepare(
      `UPDATE tasks SET status = 'queued', visible_at = ?, queue_expires_at = ? + queue_timeout_ms,
         delivery_id = NULL, worker_id = NULL, lease_expires_at = NULL,
         output = NULL, error = NULL, retryable = NULL, updated_at = ?
       WHERE task_key = ? AND status NOT IN ('leased', 'withdrawing')`,
    ).run(visibleAt, visibleAt, visibleAt, taskKey);
  }

  withdraw(taskKey: string, now: number): void {
    // A queued task is never delivered; a leased one is never delivered again, but its worker
    // may still reply while the lease lives, and expire() ends it when the lease runs out.
    this.prepare(
      `UPDATE tasks SET status = CASE status WHEN 'queued' THEN 'withdrawn' ELSE 'withdrawing' END, updated_at = ?
       WHERE task_key = ? AND status IN ('queued', 'leased')`,
    ).run(now, taskKey);
  }

  claim(claim: TaskClaim): TaskRecord[] {
    // Single writer connection: the SELECT and the UPDATEs below cannot interleave with another claim.
    const keys = this.prepare(
      // Oldest ready first, whether queued or abandoned by a worker whose lease expired with
      // deliveries left (the last delivery's expiry is expire()'s to end, never redelivered), or
      // handed out through a node whose lease lapsed: that node may have died before its answer
      // reached the worker. Nodes are few and a lapsed one rarely holds deliveries long, so the
      // last branch starts from the lapsed nodes (usually none) and reads tasks_by_node.
      `SELECT task_key FROM (
         SELECT task_key, visible_at AS ready_at FROM tasks WHERE service = ? AND status = 'queued' AND visible_at <= ?
         UNION ALL
         SELECT task_key, lease_expires_at FROM tasks
         WHERE service = ? AND status = 'leased' AND lease_expires_at <= ? AND attempt < max_attempts
         UNION ALL
         SELECT task_key, claimed_at FROM tasks
         WHERE node_id IN (SELECT node_id FROM nodes WHERE lease_expires_at <= ?)
           AND service = ? AND status = 'leased' AND lease_expires_at > ? AND attempt < max_attempts)
       ORDER BY ready_at LIMIT ?`,
    ).all(
      claim.service,
      claim.now,
      claim.service,
      claim.now,
      claim.now,
      claim.service,
      claim.now,
      claim.max,
    ) as Array<{
      task_key: string;
    }>;
    const claimed: TaskRecord[] = [];
    for (const { task_key } of keys) {
      // A fresh random token per delivery makes its id unguessable from the run id.
      const token = randomBytes(16).toString("hex");
      this.prepare(
        `UPDATE tasks SET status = 'leased', attempt = attempt + 1,
           delivery_id = task_key || '@' || (attempt + 1) || '.' || ?,
           delivery_tokens = CASE delivery_tokens WHEN '' THEN ? ELSE delivery_tokens || ' ' || ? END,
           worker_id = ?, claimed_at = ?, node_id = ?,
           lease_expires_at = ? + CASE WHEN timeout_ms < lease_ms THEN timeout_ms ELSE lease_ms END,
           updated_at = ?
         WHERE task_key = ?`,
      ).run(
        token,
        token,
        token,
        claim.workerId,
        claim.now,
        claim.nodeId ?? null,
        claim.now,
        claim.now,
        task_key,
      );
      const task = this.find(task_key);
      if (task) claimed.push(task);
    }
    return claimed;
  }

  settle(reply: TaskReply): TaskReplyResult {
    const row = this.byDelivery(reply.deliveryId);
    if (!row) return { outcome: "not_found" };
    const task = toTaskRecord(row);
    const isCurrent = task.deliveryId === reply.deliveryId;
    if (isCurrent && task.status === reply.outcome) return { outcome: "duplicate", task };
    if (!isCurrent || !hasLiveLease(row, reply.now)) return { outcome: "lost", task };
    this.prepare(
      `UPDATE tasks SET status = ?, output = ?, error = ?, retryable = ?, lease_expires_at = NULL, updated_at = ?
       WHERE task_key = ?`,
    ).run(
      reply.outcome,
      reply.output ?? null,
      reply.error ? JSON.stringify(reply.error) : null,
      reply.retryable === undefined ? null : reply.retryable ? 1 : 0,
      reply.now,
      task.taskKey,
    );
    return { outcome: "settled", task: this.find(task.taskKey)! };
  }

  heartbeat(
    deliveryId: string,
    now: number,
  ): { outcome: "ok"; leaseExpiresAt: number } | { outcome: "lost" | "not_found" } {
    const row = this.byDelivery(deliveryId);
    if (!row) return { outcome: "not_found" };
    if (row.delivery_id !== deliveryId || !hasLiveLease(row, now)) return { outcome: "lost" };
    // Never past the delivery's timeout: hasLiveLease made sure that is still ahead. The worker
    // has the delivery, so the node it came through no longer matters (node_id = NULL).
    const leaseExpiresAt = Math.min(now + row.lease_ms, timeoutAt(row));
    this.prepare(
      "UPDATE tasks SET lease_expires_at = ?, node_id = NULL, updated_at = ? WHERE task_key = ?",
    ).run(leaseExpiresAt, now, row.task_key);
    return { outcome: "ok", leaseExpiresAt };
  }

  /**
   * Ends what no reply can settle any more (see Store.expireTasks): withdrawing tasks and last
   * deliveries whose lease expired, and queued tasks past their queue deadline, earliest first.
   */
  expire(now: number, limit: number): TaskRecord[] {
    const rows = this.prepare(
      // Each branch repeats its partial index's WHERE terms, so SQLite reads that index alone.
      `SELECT * FROM (
         SELECT *, lease_expires_at AS due_at FROM tasks WHERE status = 'withdrawing' AND lease_expires_at <= ?
         UNION ALL
         SELECT *, lease_expires_at FROM tasks
         WHERE status = 'leased' AND attempt >= max_attempts AND lease_expires_at <= ?
         UNION ALL
         SELECT *, queue_expires_at FROM tasks
         WHERE status = 'queued' AND queue_expires_at IS NOT NULL AND queue_expires_at <= ?)
       ORDER BY due_at, task_key LIMIT ?`,
    ).all(now, now, now, limit) as TaskRow[];
    const update = this.prepare(
      "UPDATE tasks SET status = ?, error = ?, retryable = ?, updated_at = ? WHERE task_key = ?",
    );
    return rows.map((row) => {
      const isQueued = row.status === "queued";
      update.run(
        isQueued ? "failed" : "expired",
        JSON.stringify(expiryError(row)),
        isQueued ? 1 : 0,
        now,
        row.task_key,
      );
      return this.find(row.task_key)!;
    });
  }

  nextExpiry(): number | undefined {
    const row = this.prepare(
      `SELECT MIN(at) AS at FROM (
         SELECT MIN(lease_expires_at) AS at FROM tasks WHERE status = 'withdrawing'
         UNION ALL SELECT MIN(lease_expires_at) FROM tasks WHERE status = 'leased' AND attempt >= max_attempts
         UNION ALL SELECT MIN(queue_expires_at) FROM tasks WHERE status = 'queued' AND queue_expires_at IS NOT NULL)`,
    ).get() as { at: number | null };
    return row.at ?? undefined;
  }

  find(taskKey: string): TaskRecord | undefined {
    const row = this.findRow(taskKey);
    return row && toTaskRecord(row);
  }

  private findRow(taskKey: string): TaskRow | undefined {
    return this.prepare("SELECT * FROM tasks WHERE task_key = ?").get(taskKey) as
      TaskRow | undefined;
  }

  /** The task a delivery id names, current delivery or an earlier one; never for a wrong token. */
  private byDelivery(deliveryId: string): TaskRow | undefined {
    const taskKey = taskKeyOfDelivery(deliveryId);
    const row = taskKey === undefined ? undefined : this.findRow(taskKey);
    return row && isDeliveryOf(row, deliveryId) ? row : undefined;
  }

  nextVisibleAt(service: string, now?: number, nodeId?: string): number | undefined {
    const row = this.prepare(
      `SELECT MIN(at) AS at FROM (
         SELECT MIN(visible_at) AS at FROM tasks WHERE service = ? AND status = 'queued'
         UNION ALL SELECT MIN(lease_expires_at) FROM tasks
         WHERE service = ? AND status = 'leased' AND attempt < max_attempts
         UNION ALL SELECT MIN(n.lease_expires_at) FROM nodes n
         WHERE ? AND n.node_id IS NOT ? AND EXISTS (
           SELECT 1 FROM tasks t WHERE t.node_id = n.node_id AND t.service = ? AND t.status = 'leased'
             AND t.attempt < t.max_attempts))`,
    ).get(service, service, now === undefined ? 0 : 1, nodeId ?? null, service) as {
      at: number | null;
    };
    return row.at ?? undefined;
  }

  /**
   * A new process took the node id over: the deliveries its predecessor handed out may never
   * have reached their workers. Their leases end now, so the next claim delivers them again
   * (those with deliveries left; a last one is expire()'s to end).
   */
  releaseDeliveriesOf(nodeId: string, now: number): void {
    this.prepare(
      `UPDATE tasks SET lease_expires_at = ?, node_id = NULL, updated_at = ?
       WHERE node_id = ? AND status = 'leased' AND attempt < max_attempts AND lease_expires_at > ?`,
    ).run(now, now, nodeId, now);
  }

  counts(): Array<{ service: string; status: TaskStatus; count: number }> {
    return this.prepare(
      // Scans of partial indexes only: finished tasks, however many, cost nothing here.
      `SELECT service, 'queued' AS status, count(*) AS count FROM tasks WHERE status = 'queued' GROUP BY service
       UNION ALL
       SELECT service, 'leased' AS status, count(*) AS count FROM tasks WHERE status = 'leased' GROUP BY service
       UNION ALL
       SELECT service, 'withdrawing' AS status, count(*) AS count FROM tasks WHERE status = 'withdrawing' GROUP BY service`,
    ).all() as Array<{
      service: string;
      status: TaskStatus;
      count: number;
    }>;
  }
}

/**
 * Why expire() ended a task. The PostgreSQL store builds the same messages in SQL
 * (postgres-tasks.ts EXPIRE_SQL); the conformance suite holds both to them.
 */
function expiryError(row: TaskRow): ErrorData {
  const what = `task ${row.task_key} (${row.service}.${row.command})`;
  if (row.status === "queued") {
    return {
      code: "QUEUE_TIMEOUT",
      message: `${what}: no worker claimed it within ${row.queue_timeout_ms} ms`,
    };
  }
  const unknown = "whether it took effect is unknown";
  if ((row.lease_expires_at ?? 0) >= timeoutAt(row)) {
    return {
      code: "STEP_TIMEOUT",
      message: `${what}: delivery ${row.attempt} had no reply within its timeout of ${row.timeout_ms} ms; ${unknown}`,
    };
  }
  return {
    code: "LEASE_EXPIRED",
    message:
      row.status === "withdrawing"
        ? `${what}: withdrawn while delivery ${row.attempt} was with a worker, which sent no reply within its lease; ${unknown}`
        : `${what}: delivery ${row.attempt} of ${row.max_attempts} had no reply within its lease; ${unknown}`,
  };
}
