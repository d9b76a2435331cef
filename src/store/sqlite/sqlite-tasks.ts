import type Database from "better-sqlite3";
import { toTaskRecord, type TaskRow } from "../rows.js";
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
      `INSERT INTO tasks (task_key, service, command, input, run_id, workflow, seq, traceparent, status, lease_ms, visible_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?) ON CONFLICT (task_key) DO NOTHING`,
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
      task.visibleAt,
      task.createdAt,
      task.createdAt,
    );
  }

  requeue(taskKey: string, visibleAt: number): void {
    this.prepare(
      `UPDATE tasks SET status = 'queued', visible_at = ?, delivery_id = NULL, worker_id = NULL, lease_expires_at = NULL,
         output = NULL, error = NULL, retryable = NULL, updated_at = ? WHERE task_key = ?`,
    ).run(visibleAt, visibleAt, taskKey);
  }

  withdraw(taskKey: string, now: number): void {
    this.prepare(
      "UPDATE tasks SET status = 'withdrawn', updated_at = ? WHERE task_key = ? AND status = 'queued'",
    ).run(now, taskKey);
  }

  claim(claim: TaskClaim): TaskRecord[] {
    // Single writer connection: the SELECT and the UPDATEs below cannot interleave with another claim.
    const keys = this.prepare(
      // Oldest ready first, whether queued or abandoned by a worker whose lease expired.
      `SELECT task_key FROM (
         SELECT task_key, visible_at AS ready_at FROM tasks WHERE service = ? AND status = 'queued' AND visible_at <= ?
         UNION ALL
         SELECT task_key, lease_expires_at FROM tasks WHERE service = ? AND status = 'leased' AND lease_expires_at <= ?)
       ORDER BY ready_at LIMIT ?`,
    ).all(claim.service, claim.now, claim.service, claim.now, claim.max) as Array<{
      task_key: string;
    }>;
    const claimed: TaskRecord[] = [];
    for (const { task_key } of keys) {
      this.prepare(
        `UPDATE tasks SET status = 'leased', attempt = attempt + 1, delivery_id = task_key || '@' || (attempt + 1),
           worker_id = ?, lease_expires_at = ? + lease_ms, updated_at = ? WHERE task_key = ?`,
      ).run(claim.workerId, claim.now, claim.now, task_key);
      const task = this.find(task_key);
      if (task) claimed.push(task);
    }
    return claimed;
  }

  settle(reply: TaskReply): TaskReplyResult {
    const task = this.byDelivery(reply.deliveryId);
    if (!task) return { outcome: "not_found" };
    const isCurrent = task.deliveryId === reply.deliveryId;
    if (isCurrent && task.status === reply.outcome) return { outcome: "duplicate", task };
    if (!isCurrent || task.status !== "leased" || (task.leaseExpiresAt ?? 0) <= reply.now) {
      return { outcome: "lost", task };
    }
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
    const task = this.byDelivery(deliveryId);
    if (!task) return { outcome: "not_found" };
    if (
      task.deliveryId !== deliveryId ||
      task.status !== "leased" ||
      (task.leaseExpiresAt ?? 0) <= now
    ) {
      return { outcome: "lost" };
    }
    const leaseExpiresAt = now + task.leaseMs;
    this.prepare("UPDATE tasks SET lease_expires_at = ?, updated_at = ? WHERE task_key = ?").run(
      leaseExpiresAt,
      now,
      task.taskKey,
    );
    return { outcome: "ok", leaseExpiresAt };
  }

  find(taskKey: string): TaskRecord | undefined {
    const row = this.prepare("SELECT * FROM tasks WHERE task_key = ?").get(taskKey) as
      TaskRow | undefined;
    return row && toTaskRecord(row);
  }

  /**
   * The task a delivery id names, current delivery or not: an id is `{taskKey}@{attempt}`
   * ('@' never occurs in run ids), so an old delivery is told apart from an unknown one.
   */
  private byDelivery(deliveryId: string): TaskRecord | undefined {
    const at = deliveryId.lastIndexOf("@");
    if (at <= 0 || !/^\d+$/.test(deliveryId.slice(at + 1))) return undefined;
    const task = this.find(deliveryId.slice(0, at));
    return task && Number(deliveryId.slice(at + 1)) <= task.attempt ? task : undefined;
  }

  nextVisibleAt(service: string): number | undefined {
    const row = this.prepare(
      `SELECT MIN(at) AS at FROM (
         SELECT MIN(visible_at) AS at FROM tasks WHERE service = ? AND status = 'queued'
         UNION ALL SELECT MIN(lease_expires_at) FROM tasks WHERE service = ? AND status = 'leased')`,
    ).get(service, service) as { at: number | null };
    return row.at ?? undefined;
  }

  counts(): Array<{ service: string; status: TaskStatus; count: number }> {
    return this.prepare(
      // Two scans of the partial indexes: finished tasks, however many, cost nothing here.
      `SELECT service, 'queued' AS status, count(*) AS count FROM tasks WHERE status = 'queued' GROUP BY service
       UNION ALL
       SELECT service, 'leased' AS status, count(*) AS count FROM tasks WHERE status = 'leased' GROUP BY service`,
    ).all() as Array<{
      service: string;
      status: TaskStatus;
      count: number;
    }>;
  }
}
