import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { BatonError, type ErrorData, type RunStatus } from "../../common/index.js";
import { encodeCursor } from "../cursor.js";
import { toRunRecord, type RunRow } from "../rows.js";
import { RESERVED_SIGNAL_LIKE, tooManySignals } from "../signal-limit.js";
import { RUN_OWNED_TABLES, expiredRunsSql } from "../run-owned-tables.js";
import { runSearchSql } from "../run-search.js";
import { loadMigrations } from "../migrations.js";
import { SqliteFileLock } from "./sqlite-lock.js";
import { SqliteSchedules } from "./sqlite-schedules.js";
import { SqliteTasks } from "./sqlite-tasks.js";
import { SqliteWebhooks } from "./sqlite-webhooks.js";
import { SqliteEvents } from "./sqlite-events.js";
import type {
  EventFilter,
  EventPublish,
  EventPublishResult,
  EventRecord,
  JournalEntry,
  NewRun,
  RunPage,
  RunQuery,
  RetentionSweep,
  RunRecord,
  SignalRecord,
  NodeRenewal,
  ServiceActivity,
  ServiceCalls,
  Store,
  TaskClaim,
  WorkerSighting,
  TaskRecord,
  TaskReply,
  TaskReplyResult,
  TaskStatus,
  WriteOp,
  WriteResult,
} from "../store.js";
import type { ScheduleAdvance, ScheduleRecord, ScheduleSpec } from "../schedule-records.js";
import type { WebhookStore } from "../webhook-store.js";

export interface SqliteStoreOptions {
  /** A file path, or ":memory:". */
  path: string;
  /**
   * "full" (default): a committed step survives power loss — every group commit fsyncs.
   * "normal": survives a process crash, may lose the last commits on power loss; faster.
   */
  synchronous?: "full" | "normal";
}

const NON_TERMINAL = "('pending','running','waiting','compensating')";

/** The embedded store: one SQLite file in WAL mode, written by one connection. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly applyBatch: Database.Transaction<(ops: readonly WriteOp[]) => WriteResult[]>;
  private readonly tasks = new SqliteTasks((sql) => this.statement(sql));
  private readonly schedules = new SqliteSchedules((sql) => this.statement(sql));
  // Typed as the interface: the driver's types stay out of the package's public declarations.
  readonly webhooks: WebhookStore = new SqliteWebhooks(
    (sql) => this.statement(sql),
    (fn) => this.write(fn),
  );
  private readonly events: SqliteEvents;

  /** Held from open to close: no other process opens the same file meanwhile. */
  private readonly lock: SqliteFileLock | undefined;

  /** Throws STORE_LOCKED while another process (or store) has the same file open. */
  constructor(options: SqliteStoreOptions) {
    if (options.path !== ":memory:") {
      mkdirSync(dirname(options.path), { recursive: true });
      this.lock = SqliteFileLock.acquire(options.path);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(options.path);
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
      db.pragma("busy_timeout = 5000");
      db.pragma("temp_store = MEMORY");
    } catch (e) {
      db?.close();
      this.lock?.release();
      throw e;
    }
    this.db = db;
    this.applyBatch = this.db.transaction((ops: readonly WriteOp[]) =>
      ops.map((op) => this.apply(op)),
    );
    this.events = new SqliteEvents(
      db,
      (sql) => this.statement(sql),
      (run) => this.createRun(run),
    );
  }

  migrate(): Promise<void> {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
    const applied = new Set(
      (
        this.db.prepare("SELECT version FROM schema_migrations").all() as Array<{ version: number }>
      ).map((row) => row.version),
    );
    for (const migration of loadMigrations("sqlite")) {
      if (applied.has(migration.version)) continue;
      this.db
        .transaction(() => {
          this.db.exec(migration.sql);
          this.db
            .prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .run(migration.version, migration.name, Date.now());
        })
        .immediate();
    }
    return Promise.resolve();
  }

  commit(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    try {
      // better-sqlite3 is synchronous: the fsync of synchronous=FULL happens here, once per batch.
      return Promise.resolve(this.applyBatch.immediate(ops));
    } catch (e) {
      return Promise.reject(
        new BatonError(
          "STORE_FAILED",
          `the SQLite store could not commit: ${(e as Error).message}`,
          {
            retryable: true,
            cause: e,
          },
        ),
      );
    }
  }

  private apply(op: WriteOp): WriteResult {
    switch (op.type) {
      case "createRun":
        return this.createRun(op.run);
      case "appendRun": {
        const update = op.update;
        const newLength = op.expectedLength + op.entries.length;
        const changed = this.statement(
          `UPDATE runs SET status = ?, updated_at = ?, wake_at = ?, waiting_on = ?, journal_length = ?,
             delete_after = ?, output = CASE WHEN ? THEN ? ELSE output END, error = CASE WHEN ? THEN ? ELSE error END
           WHERE run_id = ? AND epoch = ? AND journal_length = ?`,
        ).run(
          update.status,
          update.updatedAt,
          update.wakeAt,
          update.waitingOn === null ? null : JSON.stringify(update.waitingOn),
          newLength,
          update.deleteAfter ?? null,
          update.output === undefined ? 0 : 1,
          update.output ?? null,
          update.error === undefined ? 0 : 1,
          update.error ? JSON.stringify(update.error) : null,
          op.runId,
          op.epoch,
          op.expectedLength,
        ).changes;
        if (changed === 0) {
          return {
            ok: false,
            error: {
              code: "LEASE_LOST",
              message: `run ${op.runId}: journal write at position ${op.expectedLength} (epoch ${op.epoch}) was fenced off`,
            },
          };
        }
        // A generation that ends in this write keeps none of its entries: skip writing them.
        if (!op.continueAsNew) for (const entry of op.entries) this.insertEntry(op.runId, entry);
        else this.startGeneration(op.runId, newLength, op.continueAsNew);
        for (const { signalId, seq } of op.consumedSignals ?? []) {
          this.statement(
            "UPDATE signals SET consumed_seq = ? WHERE signal_id = ? AND consumed_seq IS NULL",
          ).run(seq, signalId);
        }
        for (const run of op.createRuns ?? []) this.createRun(run);
        for (const runId of op.wakeRuns ?? []) this.wake(runId, update.updatedAt);
        for (const task of op.enqueueTasks ?? []) this.tasks.insert(task);
        for (const { taskKey, visibleAt } of op.requeueTasks ?? [])
          this.tasks.requeue(taskKey, visibleAt);
        for (const taskKey of op.withdrawTasks ?? [])
          this.tasks.withdraw(taskKey, update.updatedAt);
        for (const event of op.events ?? []) this.events.insert(event);
        return { ok: true };
      }
      case "insertSignal": {
        // The transaction is IMMEDIATE (one writer at a time): counting, then inserting, is atomic.
        if (op.maxPending !== undefined && this.countPendingSignals(op.runId) >= op.maxPending)
          return { ok: false, error: tooManySignals(op.runId, op.maxPending) };
        const signalId = Number(
          this.statement(
            "INSERT INTO signals (run_id, name, payload, sent_at) VALUES (?, ?, ?, ?)",
          ).run(op.runId, op.name, op.payload, op.sentAt).lastInsertRowid,
        );
        this.wake(op.runId, op.sentAt);
        return { ok: true, signalId };
      }
    }
  }

  private createRun(run: NewRun): WriteResult {
    const inserted = this.statement(
      `INSERT INTO runs (run_id, workflow, status, input, parent_run_id, parent_seq, created_at, updated_at, journal_length, owner, version, tags)
       VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING`,
    ).run(
      run.runId,
      run.workflow,
      run.input,
      run.parentRunId,
      run.parentSeq,
      run.createdAt,
      run.createdAt,
      run.owner ?? null,
      run.version ?? 1,
      run.tags && Object.keys(run.tags).length ? JSON.stringify(run.tags) : null,
    ).changes;
    if (inserted === 0) {
      const existing = this.findRunSync(run.runId);
      return existing
        ? { ok: true, created: false, run: existing }
        : { ok: false, error: lost(run.runId) };
    }
    this.insertEntry(run.runId, run.firstEntry);
    for (const [key, value] of Object.entries(run.tags ?? {})) {
      this.statement(
        "INSERT INTO run_tags (run_id, key, value, created_at) VALUES (?, ?, ?, ?)",
      ).run(run.runId, key, value, run.createdAt);
    }
    return { ok: true, created: true };
  }

  /** ctx.continueAsNew: the run's next generation, in the transaction that ended the last. */
  private startGeneration(
    runId: string,
    length: number,
    next: { input: string | null; firstEntry: JournalEntry },
  ): void {
    this.statement(
      "UPDATE runs SET input = ?, generation = generation + 1, journal_length = ? WHERE run_id = ?",
    ).run(next.input, length + 1, runId);
    this.statement("DELETE FROM journal WHERE run_id = ? AND position < ?").run(runId, length);
    this.insertEntry(runId, { ...next.firstEntry, position: length });
  }

  private countPendingSignals(runId: string): number {
    const row = this.statement(
      `SELECT count(*) AS n FROM signals WHERE run_id = ? AND consumed_seq IS NULL AND name NOT LIKE '${RESERVED_SIGNAL_LIKE}'`,
    ).get(runId) as { n: number };
    return row.n;
  }

  private insertEntry(runId: string, entry: JournalEntry): void {
    this.statement(
      "INSERT INTO journal (run_id, position, seq, type, name, data, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ).run(runId, entry.position, entry.seq, entry.type, entry.name, entry.data, entry.at);
  }

  /** Marks a waiting run as due now, so a restart cannot lose the reason to wake it. */
  private wake(runId: string, at: number): void {
    this.statement(
      `UPDATE runs SET wake_at = MIN(COALESCE(wake_at, ?), ?) WHERE run_id = ? AND status IN ${NON_TERMINAL}`,
    ).run(at, at, runId);
  }

  findRun(runId: string): Promise<RunRecord | undefined> {
    return Promise.resolve(this.findRunSync(runId));
  }

  private findRunSync(runId: string): RunRecord | undefined {
    const row = this.statement("SELECT * FROM runs WHERE run_id = ?").get(runId) as
      RunRow | undefined;
    return row && toRunRecord(row);
  }

  async listRuns(query: RunQuery): Promise<RunPage> {
    await Promise.resolve(); // a malformed cursor rejects the promise, never throws at the call
    const params: unknown[] = [];
    const param = (value: unknown): string => (params.push(value), "?");
    const sql = runSearchSql(query, param, (prefix) => {
      // A range of the primary key, case-sensitive like PostgreSQL (SQLite's LIKE ignores ASCII
      // case and scans). Run ids are printable ASCII below DEL, so prefix + DEL bounds them all.
      return `r.run_id >= ${param(prefix)} AND r.run_id < ${param(prefix + "\x7f")}`;
    });
    const rows = this.statement(sql).all(...params) as RunRow[];
    const page = rows.slice(0, query.limit).map(toRunRecord);
    const last = page[page.length - 1];
    return rows.length > query.limit && last
      ? { runs: page, nextCursor: encodeCursor({ createdAt: last.createdAt, runId: last.runId }) }
      : { runs: page };
  }

  readJournal(runId: string): Promise<JournalEntry[]> {
    return Promise.resolve(
      this.statement(
        "SELECT position, seq, type, name, data, at FROM journal WHERE run_id = ? ORDER BY position",
      ).all(runId) as JournalEntry[],
    );
  }

  pendingSignals(runId: string): Promise<SignalRecord[]> {
    const rows = this.statement(
      "SELECT signal_id, run_id, name, payload, sent_at FROM signals WHERE run_id = ? AND consumed_seq IS NULL ORDER BY signal_id",
    ).all(runId) as Array<{
      signal_id: number;
      run_id: string;
      name: string;
      payload: string | null;
      sent_at: number;
    }>;
    return Promise.resolve(
      rows.map((r) => ({
        signalId: r.signal_id,
        runId: r.run_id,
        name: r.name,
        payload: r.payload,
        sentAt: r.sent_at,
      })),
    );
  }

  findRunsToResume(now: number): Promise<string[]> {
    const rows = this.statement(
      `SELECT run_id FROM runs WHERE status IN ('pending', 'running', 'compensating')
       UNION SELECT run_id FROM runs WHERE wake_at <= ?`,
    ).all(now) as Array<{ run_id: string }>;
    return Promise.resolve(rows.map((r) => r.run_id));
  }

  findDueRuns(
    now: number,
    limit: number,
    nodeId?: string,
  ): Promise<Array<{ runId: string; wakeAt: number }>> {
    const rows = (
      nodeId === undefined
        ? this.statement(
            "SELECT run_id, wake_at FROM runs WHERE wake_at <= ? ORDER BY wake_at LIMIT ?",
          ).all(now, limit)
        : this.statement(
            `SELECT run_id, wake_at FROM runs WHERE wake_at <= ? AND (owner IS NULL OR owner = ?)
             ORDER BY wake_at LIMIT ?`,
          ).all(now, nodeId, limit)
    ) as Array<{ run_id: string; wake_at: number }>;
    return Promise.resolve(rows.map((r) => ({ runId: r.run_id, wakeAt: r.wake_at })));
  }

  nextWakeAt(nodeId?: string): Promise<number | undefined> {
    const row = (
      nodeId === undefined
        ? this.statement("SELECT MIN(wake_at) AS at FROM runs WHERE wake_at IS NOT NULL").get()
        : this.statement(
            "SELECT MIN(wake_at) AS at FROM runs WHERE wake_at IS NOT NULL AND (owner IS NULL OR owner = ?)",
          ).get(nodeId)
    ) as { at: number | null };
    return Promise.resolve(row.at ?? undefined);
  }

  countRunsByWorkflow(): Promise<
    Array<{ workflow: string; version: number; status: RunStatus; count: number }>
  > {
    return Promise.resolve(
      this.statement(
        "SELECT workflow, version, status, COUNT(*) AS count FROM runs GROUP BY workflow, version, status",
      ).all() as Array<{
        workflow: string;
        version: number;
        status: RunStatus;
        count: number;
      }>,
    );
  }

  readEvents(afterId: number, limit: number, filter?: EventFilter): Promise<EventRecord[]> {
    return Promise.resolve(this.events.read(afterId, limit, filter));
  }

  lastEventPosition(): Promise<number> {
    return Promise.resolve(this.events.lastPosition());
  }

  publishEvent(publish: EventPublish): Promise<EventPublishResult> {
    try {
      return Promise.resolve(this.events.publish(publish));
    } catch (e) {
      return Promise.reject(
        new BatonError(
          "STORE_FAILED",
          `the SQLite store could not publish: ${(e as Error).message}`,
          { retryable: true, cause: e },
        ),
      );
    }
  }

  deleteExpiredRuns(now: number, limit: number): Promise<RetentionSweep> {
    // One short write transaction per batch: SQLite has one writer, so a run's group commit
    // waits for at most one batch (the sweeper yields between batches).
    return this.write((): RetentionSweep => {
      const params: unknown[] = [];
      const select = expiredRunsSql((value) => (params.push(value), "?"), now, limit);
      const runIds = (this.statement(select).all(...params) as Array<{ run_id: string }>).map(
        (row) => row.run_id,
      );
      const rows: Record<string, number> = {};
      if (runIds.length === 0) return { runs: 0, rows };
      const ids = JSON.stringify(runIds);
      for (const { table, runColumn } of [
        ...RUN_OWNED_TABLES,
        { table: "runs", runColumn: "run_id" },
      ]) {
        rows[table] = this.statement(
          `DELETE FROM ${table} WHERE ${runColumn} IN (SELECT value FROM json_each(?))`,
        ).run(ids).changes;
      }
      return { runs: runIds.length, rows };
    });
  }

  nextRunExpiry(): Promise<number | undefined> {
    const row = this.statement(
      "SELECT MIN(delete_after) AS at FROM runs WHERE delete_after IS NOT NULL",
    ).get() as { at: number | null };
    return Promise.resolve(row.at ?? undefined);
  }

  claimTasks(claim: TaskClaim): Promise<TaskRecord[]> {
    return this.write(() => this.tasks.claim(claim));
  }

  settleTask(reply: TaskReply): Promise<TaskReplyResult> {
    return this.write(() => {
      const result = this.tasks.settle(reply);
      // The run must look at the reply even if this process dies before telling it.
      if (result.outcome === "settled") this.wake(result.task.runId, reply.now);
      return result;
    });
  }

  heartbeatTask(
    deliveryId: string,
    now: number,
  ): Promise<{ outcome: "ok"; leaseExpiresAt: number } | { outcome: "lost" | "not_found" }> {
    return this.write(() => this.tasks.heartbeat(deliveryId, now));
  }

  findTask(taskKey: string): Promise<TaskRecord | undefined> {
    return Promise.resolve(this.tasks.find(taskKey));
  }

  nextVisibleAt(service: string, now?: number, nodeId?: string): Promise<number | undefined> {
    return Promise.resolve(this.tasks.nextVisibleAt(service, now, nodeId));
  }

  taskCounts(): Promise<Array<{ service: string; status: TaskStatus; count: number }>> {
    return Promise.resolve(this.tasks.counts());
  }

  expireTasks(now: number, limit: number): Promise<TaskRecord[]> {
    return this.write(() => {
      const expired = this.tasks.expire(now, limit);
      // As for a worker's reply: the run must look at the task even if this process dies now.
      for (const task of expired) this.wake(task.runId, now);
      return expired;
    });
  }

  nextTaskExpiry(): Promise<number | undefined> {
    return Promise.resolve(this.tasks.nextExpiry());
  }

  renewNode(nodeId: string, now: number, leaseMs: number, instance?: string): Promise<NodeRenewal> {
    return this.write((): NodeRenewal => {
      const current = this.statement(
        "SELECT instance, lease_expires_at FROM nodes WHERE node_id = ?",
      ).get(nodeId) as { instance: string | null; lease_expires_at: number } | undefined;
      // Another process holds the node id while its lease lives; the write transaction keeps a
      // second renewal from slipping in between this read and the write below.
      if (
        current &&
        instance !== undefined &&
        current.instance !== instance &&
        current.lease_expires_at > now
      )
        return { outcome: "in_use", instance: current.instance };
      const isNewInstance = instance !== undefined && current?.instance !== instance;
      this.statement(
        `INSERT INTO nodes (node_id, lease_expires_at, started_at, instance) VALUES (?, ?, ?, ?)
         ON CONFLICT (node_id) DO UPDATE SET lease_expires_at = excluded.lease_expires_at,
           instance = COALESCE(excluded.instance, nodes.instance),
           started_at = CASE WHEN ? THEN excluded.started_at ELSE nodes.started_at END`,
      ).run(nodeId, now + leaseMs, now, instance ?? null, isNewInstance ? 1 : 0);
      if (current && isNewInstance) {
        this.tasks.releaseDeliveriesOf(nodeId, now);
        // Fences off the predecessor: a write it still had in flight, made under the epochs it
        // held, can no longer land in the node's runs (the new process reads them afresh).
        this.statement(
          `UPDATE runs SET epoch = epoch + 1 WHERE owner = ? AND status IN ${NON_TERMINAL}`,
        ).run(nodeId);
      }
      return { outcome: "renewed" };
    });
  }

  nodeLeaseExpiresAt(nodeId: string): Promise<number | undefined> {
    const row = this.statement("SELECT lease_expires_at FROM nodes WHERE node_id = ?").get(
      nodeId,
    ) as { lease_expires_at: number } | undefined;
    return Promise.resolve(row?.lease_expires_at);
  }

  acquireRun(runId: string, nodeId: string, now: number): Promise<RunRecord | undefined> {
    return this.write(() => {
      // Fencing: a new owner bumps the epoch, so the old owner's appends (checked against the
      // epoch they were made under) can never land again.
      const row = this.statement(
        `UPDATE runs SET epoch = CASE WHEN owner IS ? THEN epoch ELSE epoch + 1 END, owner = ?
         WHERE run_id = ? AND status IN ${NON_TERMINAL}
           AND (owner IS NULL OR owner = ? OR NOT EXISTS (
                 SELECT 1 FROM nodes WHERE nodes.node_id = runs.owner AND nodes.lease_expires_at > ?))
         RETURNING *`,
      ).get(nodeId, nodeId, runId, nodeId, now) as RunRow | undefined;
      return row && toRunRecord(row);
    });
  }

  releaseRun(runId: string, nodeId: string, epoch: number): Promise<void> {
    return this.write(() => {
      this.statement(
        "UPDATE runs SET owner = NULL WHERE run_id = ? AND owner = ? AND epoch = ?",
      ).run(runId, nodeId, epoch);
    });
  }

  findOrphanedRuns(query: {
    now: number;
    nodeId: string;
    includeOwn: boolean;
    limit: number;
  }): Promise<string[]> {
    const rows = this.statement(
      `SELECT run_id FROM runs
       WHERE (status IN ('pending', 'running', 'compensating') OR (status = 'waiting' AND wake_at <= ?))
         AND (owner IS NULL OR (? AND owner = ?) OR (owner <> ? AND NOT EXISTS (
               SELECT 1 FROM nodes WHERE nodes.node_id = runs.owner AND nodes.lease_expires_at > ?)))
       LIMIT ?`,
    ).all(
      query.now,
      query.includeOwn ? 1 : 0,
      query.nodeId,
      query.nodeId,
      query.now,
      query.limit,
    ) as Array<{ run_id: string }>;
    return Promise.resolve(rows.map((r) => r.run_id));
  }

  saveServiceActivity(activity: ServiceActivity): Promise<void> {
    return this.write(() => {
      const sighted = this.statement(
        `INSERT INTO workers (service, worker_id, node_id, last_seen_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (service, worker_id) DO UPDATE SET node_id = excluded.node_id,
           last_seen_at = MAX(workers.last_seen_at, excluded.last_seen_at)`,
      );
      for (const w of activity.workers) sighted.run(w.service, w.workerId, w.nodeId, w.lastSeenAt);
      const counted = this.statement(
        `INSERT INTO service_calls (service, node_id, completed, failures, in_flight, latencies, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (service, node_id) DO UPDATE SET completed = service_calls.completed + excluded.completed,
           failures = service_calls.failures + excluded.failures, in_flight = excluded.in_flight,
           latencies = excluded.latencies, updated_at = excluded.updated_at`,
      );
      for (const c of activity.calls) {
        counted.run(
          c.service,
          activity.nodeId,
          c.completed,
          c.failures,
          c.inFlight,
          JSON.stringify(c.latencies),
          activity.now,
        );
      }
      this.statement("DELETE FROM workers WHERE last_seen_at < ?").run(activity.pruneBefore);
    });
  }

  readServiceActivity(
    workersSince: number,
  ): Promise<{ workers: WorkerSighting[]; calls: ServiceCalls[] }> {
    const workers = this.statement(
      `SELECT service, worker_id AS workerId, node_id AS nodeId, last_seen_at AS lastSeenAt
       FROM workers WHERE last_seen_at >= ?`,
    ).all(workersSince) as WorkerSighting[];
    const calls = (
      this.statement(
        `SELECT service, node_id AS nodeId, completed, failures, in_flight AS inFlight, latencies,
           updated_at AS updatedAt FROM service_calls`,
      ).all() as Array<Omit<ServiceCalls, "latencies"> & { latencies: string }>
    ).map((row) => ({ ...row, latencies: JSON.parse(row.latencies) as number[] }));
    return Promise.resolve({ workers, calls });
  }

  /** One immediate transaction outside the group commit (worker calls). */
  upsertSchedule(
    spec: ScheduleSpec,
    nextFireAt: number | null,
    now: number,
  ): Promise<{ created: boolean; schedule: ScheduleRecord }> {
    return this.write(() => this.schedules.upsert(spec, nextFireAt, now));
  }

  findSchedule(name: string): Promise<ScheduleRecord | undefined> {
    return Promise.resolve(this.schedules.find(name));
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return Promise.resolve(this.schedules.list());
  }

  advanceSchedule(advance: ScheduleAdvance): Promise<boolean> {
    return this.write(() => this.schedules.advance(advance));
  }

  settleScheduleTicks(name: string, pendingSince: number): Promise<void> {
    return this.write(() => this.schedules.settle(name, pendingSince));
  }

  setSchedulePaused(
    name: string,
    paused: boolean,
    nextFireAt: number | null,
    now: number,
  ): Promise<boolean> {
    return this.write(() => this.schedules.setPaused(name, paused, nextFireAt, now));
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.write(() => this.schedules.delete(name));
  }

  private write<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(this.db.transaction(fn).immediate());
    } catch (e) {
      return Promise.reject(
        new BatonError(
          "STORE_FAILED",
          `the SQLite store could not commit: ${(e as Error).message}`,
          { retryable: true, cause: e },
        ),
      );
    }
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    this.lock?.release();
    return Promise.resolve();
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

function lost(runId: string): ErrorData {
  return { code: "INTERNAL", message: `run ${runId} could be neither created nor read` };
}
