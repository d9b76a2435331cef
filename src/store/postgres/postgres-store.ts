import type pg from "pg";
import type { RunStatus } from "../../common/index.js";
import { encodeCursor } from "../cursor.js";
import { RUN_OWNED_TABLES, expiredRunsSql } from "../run-owned-tables.js";
import { runSearchSql } from "../run-search.js";
import type {
  EventFilter,
  EventPublish,
  EventPublishResult,
  EventRecord,
  JournalEntry,
  RetentionSweep,
  RunPage,
  RunQuery,
  RunRecord,
  SignalRecord,
  NodeRenewal,
  ServiceActivity,
  ServiceCalls,
  Store,
  StoreNotification,
  WorkerSighting,
  TaskClaim,
  TaskRecord,
  TaskReply,
  TaskReplyResult,
  TaskStatus,
  WriteOp,
  WriteResult,
} from "../store.js";
import { commitBatch } from "./postgres-commit.js";
import { PostgresEvents } from "./postgres-events.js";
import { compareText, queryRows } from "./postgres-errors.js";
import { migrate } from "./postgres-migrations.js";
import { Channel, ENDED_SUFFIX, PostgresNotifier } from "./postgres-notifier.js";
import { createPool } from "./postgres-pool.js";
import { toRunRecord, type RunRow } from "../rows.js";
import { DB_NOW_MS, PostgresTasks } from "./postgres-tasks.js";
import { PostgresSchedules } from "./postgres-schedules.js";
import type { ScheduleAdvance, ScheduleRecord, ScheduleSpec } from "../schedule-records.js";
import type { WebhookStore } from "../webhook-store.js";
import { PostgresWebhooks } from "./postgres-webhooks.js";

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`, as libpq and node-postgres read it. */
  connectionString: string;
  /** Connections in the pool (default 10): group commits, worker calls and reads share them. */
  poolSize?: number;
  /**
   * Told when a connection fails outside a call (an idle pooled one, or a subscription's, which
   * reconnects by itself); calls that fail reject with STORE_FAILED instead.
   */
  onConnectionError?: (error: Error) => void;
  /**
   * Whether to LISTEN for other nodes' news (default true). Off behind a pooler in transaction
   * mode or on a database without LISTEN/NOTIFY: the nodes then find news by polling.
   */
  listen?: boolean;
}

export const DEFAULT_POOL_SIZE = 10;

/**
 * The shared store: several Baton nodes on one PostgreSQL database. Same rows and the same
 * answers as SqliteStore (both pass conformance.ts); what differs is how concurrent writers are
 * kept apart — fencing by epoch and journal length, FOR UPDATE SKIP LOCKED for the queue — and
 * how other nodes hear of news: NOTIFY at commit (`baton_tasks`: a service's tasks became
 * deliverable; `baton_runs`: a run was woken or ended), heard through `subscribe`.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly tasks: PostgresTasks;
  private readonly schedules: PostgresSchedules;
  // Typed as the interface: the driver's types stay out of the package's public declarations.
  readonly webhooks: WebhookStore;
  private readonly events: PostgresEvents;
  private readonly notifiers = new Set<PostgresNotifier>();
  private closing: Promise<void> | undefined;

  /** Absent when `listen` is off: the engine then relies on its periodic scans. */
  readonly subscribe?: (
    listener: (notification: StoreNotification) => void,
  ) => Promise<() => Promise<void>>;

  constructor(readonly options: PostgresStoreOptions) {
    if (options.listen !== false) this.subscribe = (listener) => this.listenForNews(listener);
    this.pool = createPool({
      connectionString: options.connectionString,
      max: options.poolSize ?? DEFAULT_POOL_SIZE,
      onIdleError: options.onConnectionError ?? (() => undefined),
    });
    this.webhooks = new PostgresWebhooks(this.pool);
    this.tasks = new PostgresTasks((sql, values) => this.rows(sql, values, "use the queue"));
    this.schedules = new PostgresSchedules((sql, values) =>
      this.rows(sql, values, "use the schedules"),
    );
    this.events = new PostgresEvents(this.pool);
  }

  migrate(): Promise<void> {
    return migrate(this.pool);
  }

  commit(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    return commitBatch(this.pool, ops);
  }

  async findRun(runId: string): Promise<RunRecord | undefined> {
    const [row] = await this.rows<RunRow>("SELECT * FROM runs WHERE run_id = $1", [runId]);
    return row && toRunRecord(row);
  }

  async listRuns(query: RunQuery): Promise<RunPage> {
    const params: unknown[] = [];
    const param = (value: unknown): string => `$${params.push(value)}`;
    // Case-sensitive (run_id is COLLATE "C"), the prefix matched literally; an index range scan.
    const sql = runSearchSql(
      query,
      param,
      (prefix) => `r.run_id LIKE ${param(escapeLike(prefix) + "%")}`,
    );
    const rows = await this.rows<RunRow>(sql, params);
    const page = rows.slice(0, query.limit).map(toRunRecord);
    const last = page[page.length - 1];
    return rows.length > query.limit && last
      ? { runs: page, nextCursor: encodeCursor({ createdAt: last.createdAt, runId: last.runId }) }
      : { runs: page };
  }

  readJournal(runId: string): Promise<JournalEntry[]> {
    return this.rows<JournalEntry>(
      "SELECT position, seq, type, name, data, at FROM journal WHERE run_id = $1 ORDER BY position",
      [runId],
    );
  }

  pendingSignals(runId: string): Promise<SignalRecord[]> {
    return this.rows<SignalRecord>(
      `SELECT signal_id AS "signalId", run_id AS "runId", name, payload, sent_at AS "sentAt"
       FROM signals WHERE run_id = $1 AND consumed_seq IS NULL ORDER BY signal_id`,
      [runId],
    );
  }

  async findRunsToResume(now: number): Promise<string[]> {
    const rows = await this.rows<{ run_id: string }>(
      `SELECT run_id FROM runs WHERE status IN ('pending', 'running', 'compensating')
       UNION SELECT run_id FROM runs WHERE wake_at <= $1`,
      [now],
    );
    return rows.map((row) => row.run_id);
  }

  findDueRuns(
    now: number,
    limit: number,
    nodeId?: string,
  ): Promise<Array<{ runId: string; wakeAt: number }>> {
    return this.rows(
      `SELECT run_id AS "runId", wake_at AS "wakeAt" FROM runs
       WHERE wake_at <= $1 AND ($3::text IS NULL OR owner IS NULL OR owner = $3)
       ORDER BY wake_at LIMIT $2`,
      [now, limit, nodeId ?? null],
    );
  }

  async nextWakeAt(nodeId?: string): Promise<number | undefined> {
    const [row] = await this.rows<{ at: number | null }>(
      `SELECT min(wake_at) AS at FROM runs
       WHERE wake_at IS NOT NULL AND ($1::text IS NULL OR owner IS NULL OR owner = $1)`,
      [nodeId ?? null],
    );
    return row?.at ?? undefined;
  }

  countRunsByWorkflow(): Promise<
    Array<{ workflow: string; version: number; status: RunStatus; count: number }>
  > {
    return this.rows(
      "SELECT workflow, version, status, count(*) AS count FROM runs GROUP BY workflow, version, status",
      [],
    );
  }

  readEvents(afterId: number, limit: number, filter?: EventFilter): Promise<EventRecord[]> {
    return this.events.read(afterId, limit, filter);
  }

  lastEventPosition(): Promise<number> {
    return this.events.lastPosition();
  }

  publishEvent(publish: EventPublish): Promise<EventPublishResult> {
    return this.events.publish(publish);
  }

  async deleteExpiredRuns(now: number, limit: number): Promise<RetentionSweep> {
    const params: unknown[] = [];
    const select = expiredRunsSql((value) => `$${params.push(value)}`, now, limit);
    const tables = [...RUN_OWNED_TABLES, { table: "runs", runColumn: "run_id" }];
    // One statement, so one short transaction. SKIP LOCKED: sweepers on several nodes take
    // disjoint batches, and a run whose row a writer holds (a retry racing its expiry) is left
    // for a later sweep rather than waited for. Rows of the owned tables go before the run's row.
    const sql = `WITH doomed AS (${select} FOR UPDATE OF r SKIP LOCKED)
      ${tables
        .map(
          ({ table, runColumn }, i) =>
            `, d${i} AS (DELETE FROM ${table} WHERE ${runColumn} IN (SELECT run_id FROM doomed) RETURNING 1)`,
        )
        .join("\n      ")}
      SELECT (SELECT count(*) FROM doomed)::int AS runs,
        ${tables.map((_, i) => `(SELECT count(*) FROM d${i})::int AS d${i}`).join(", ")}`;
    const [row] = await this.rows<Record<string, number>>(sql, params, "delete expired runs");
    const rows: Record<string, number> = {};
    const runs = row?.runs ?? 0;
    if (runs > 0) tables.forEach(({ table }, i) => (rows[table] = row?.[`d${i}`] ?? 0));
    return { runs, rows };
  }

  async nextRunExpiry(): Promise<number | undefined> {
    const [row] = await this.rows<{ at: number | null }>(
      "SELECT min(delete_after) AS at FROM runs WHERE delete_after IS NOT NULL",
      [],
    );
    return row?.at ?? undefined;
  }

  claimTasks(claim: TaskClaim): Promise<TaskRecord[]> {
    return this.tasks.claim(claim);
  }

  settleTask(reply: TaskReply): Promise<TaskReplyResult> {
    return this.tasks.settle(reply);
  }

  heartbeatTask(
    deliveryId: string,
    now: number,
  ): Promise<{ outcome: "ok"; leaseExpiresAt: number } | { outcome: "lost" | "not_found" }> {
    return this.tasks.heartbeat(deliveryId, now);
  }

  findTask(taskKey: string): Promise<TaskRecord | undefined> {
    return this.tasks.find(taskKey);
  }

  nextVisibleAt(service: string, now?: number, nodeId?: string): Promise<number | undefined> {
    return this.tasks.nextVisibleAt(service, now, nodeId);
  }

  taskCounts(): Promise<Array<{ service: string; status: TaskStatus; count: number }>> {
    return this.tasks.counts();
  }

  expireTasks(now: number, limit: number): Promise<TaskRecord[]> {
    return this.tasks.expire(now, limit);
  }

  nextTaskExpiry(): Promise<number | undefined> {
    return this.tasks.nextExpiry();
  }

  async renewNode(
    nodeId: string,
    now: number,
    leaseMs: number,
    instance?: string,
  ): Promise<NodeRenewal> {
    // The lease is written on the database's clock (`now` is the caller's, used only to end the
    // leases of a predecessor's deliveries, which are on the callers' clocks). Two processes
    // renewing one node id at once: the second waits for the first's row lock, then re-checks the
    // WHERE against the committed row — another instance's live lease — and writes nothing.
    // `fresh`: this instance took over a node id another one held (an update, not an insert —
    // xmax is 0 on a row this statement inserted — and started_at set to this statement's time
    // only then).
    const [row] = await this.rows<{ fresh: boolean }>(
      `INSERT INTO nodes AS n (node_id, lease_expires_at, started_at, instance)
       VALUES ($1, ${DB_NOW_MS} + $2, ${DB_NOW_MS}, $3)
       ON CONFLICT (node_id) DO UPDATE SET lease_expires_at = excluded.lease_expires_at,
         instance = COALESCE(excluded.instance, n.instance),
         started_at = CASE WHEN excluded.instance IS NOT NULL AND n.instance IS DISTINCT FROM excluded.instance
                      THEN excluded.started_at ELSE n.started_at END
       WHERE excluded.instance IS NULL OR n.instance IS NOT DISTINCT FROM excluded.instance
         OR n.lease_expires_at <= ${DB_NOW_MS}
       RETURNING NOT (n.xmax = 0) AND n.started_at = ${DB_NOW_MS} AND $3::text IS NOT NULL AS fresh`,
      [nodeId, leaseMs, instance ?? null],
      "renew the node's lease",
    );
    if (!row) {
      const [holder] = await this.rows<{ instance: string | null }>(
        "SELECT instance FROM nodes WHERE node_id = $1",
        [nodeId],
      );
      return { outcome: "in_use", instance: holder?.instance ?? null };
    }
    if (row.fresh) {
      await this.tasks.releaseDeliveriesOf(nodeId, now);
      // Fences off the predecessor: a write it still had in flight, made under the epochs it
      // held, can no longer land in the node's runs (the new process reads them afresh).
      await this.write(
        `UPDATE runs SET epoch = epoch + 1 WHERE owner = $1 AND status IN ('pending', 'running', 'waiting', 'compensating')`,
        [nodeId],
      );
    }
    return { outcome: "renewed" };
  }

  async nodeLeaseExpiresAt(nodeId: string): Promise<number | undefined> {
    const [row] = await this.rows<{ lease_expires_at: number }>(
      "SELECT lease_expires_at FROM nodes WHERE node_id = $1",
      [nodeId],
    );
    return row?.lease_expires_at;
  }

  async acquireRun(runId: string, nodeId: string, _now: number): Promise<RunRecord | undefined> {
    // Leases compare with the database's clock (as renewNode writes them), not the caller's.
    // Fencing: a new owner bumps the epoch, so the old owner's appends (checked against the
    // epoch they were made under) can never land again. Two nodes acquiring at once: the second
    // waits for the first's row lock, then re-checks its WHERE against the committed row, where
    // the owner is now a live node — it gets nothing.
    const [row] = await this.rows<RunRow>(
      `UPDATE runs SET epoch = CASE WHEN owner IS NOT DISTINCT FROM $2 THEN epoch ELSE epoch + 1 END, owner = $2
       WHERE run_id = $1 AND status IN ('pending', 'running', 'waiting', 'compensating')
         AND (owner IS NULL OR owner = $2 OR NOT EXISTS (
               SELECT 1 FROM nodes WHERE nodes.node_id = runs.owner AND nodes.lease_expires_at > ${DB_NOW_MS}))
       RETURNING *`,
      [runId, nodeId],
      "acquire a run",
    );
    return row && toRunRecord(row);
  }

  releaseRun(runId: string, nodeId: string, epoch: number): Promise<void> {
    return this.write(
      "UPDATE runs SET owner = NULL WHERE run_id = $1 AND owner = $2 AND epoch = $3",
      [runId, nodeId, epoch],
    );
  }

  async findOrphanedRuns(query: {
    now: number;
    nodeId: string;
    includeOwn: boolean;
    limit: number;
  }): Promise<string[]> {
    const rows = await this.rows<{ run_id: string }>(
      `SELECT run_id FROM runs
       WHERE (status IN ('pending', 'running', 'compensating') OR (status = 'waiting' AND wake_at <= $1))
         AND (owner IS NULL OR ($2 AND owner = $3) OR (owner <> $3 AND NOT EXISTS (
               SELECT 1 FROM nodes WHERE nodes.node_id = runs.owner AND nodes.lease_expires_at > ${DB_NOW_MS})))
       LIMIT $4`,
      [query.now, query.includeOwn, query.nodeId, query.limit],
    );
    return rows.map((row) => row.run_id);
  }

  async saveServiceActivity(activity: ServiceActivity): Promise<void> {
    // One statement, so one transaction: arrays unnested into rows. Workers are upserted in key
    // order so two nodes flushing the same workers lock the rows in one order (no deadlock).
    const workers = [...activity.workers].sort(
      (a, b) => compareText(a.service, b.service) || compareText(a.workerId, b.workerId),
    );
    const calls = [...activity.calls].sort((a, b) => compareText(a.service, b.service));
    await this.rows(
      `WITH sighted AS (
         INSERT INTO workers (service, worker_id, node_id, last_seen_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
         ON CONFLICT (service, worker_id) DO UPDATE SET node_id = excluded.node_id,
           last_seen_at = GREATEST(workers.last_seen_at, excluded.last_seen_at)
       ), counted AS (
         INSERT INTO service_calls (service, node_id, completed, failures, in_flight, latencies, updated_at)
         SELECT service, $5, completed, failures, in_flight, latencies, $11
         FROM unnest($6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])
           AS c (service, completed, failures, in_flight, latencies)
         ON CONFLICT (service, node_id) DO UPDATE SET completed = service_calls.completed + excluded.completed,
           failures = service_calls.failures + excluded.failures, in_flight = excluded.in_flight,
           latencies = excluded.latencies, updated_at = excluded.updated_at
       )
       DELETE FROM workers WHERE last_seen_at < $12`,
      [
        workers.map((w) => w.service),
        workers.map((w) => w.workerId),
        workers.map((w) => w.nodeId),
        workers.map((w) => w.lastSeenAt),
        activity.nodeId,
        calls.map((c) => c.service),
        calls.map((c) => c.completed),
        calls.map((c) => c.failures),
        calls.map((c) => c.inFlight),
        calls.map((c) => JSON.stringify(c.latencies)),
        activity.now,
        activity.pruneBefore,
      ],
      "save the services' activity",
    );
  }

  async readServiceActivity(
    workersSince: number,
  ): Promise<{ workers: WorkerSighting[]; calls: ServiceCalls[] }> {
    const [workers, calls] = await Promise.all([
      this.rows<WorkerSighting>(
        `SELECT service, worker_id AS "workerId", node_id AS "nodeId", last_seen_at AS "lastSeenAt"
         FROM workers WHERE last_seen_at >= $1`,
        [workersSince],
      ),
      this.rows<Omit<ServiceCalls, "latencies"> & { latencies: string }>(
        `SELECT service, node_id AS "nodeId", completed, failures, in_flight AS "inFlight", latencies,
           updated_at AS "updatedAt" FROM service_calls`,
        [],
      ),
    ]);
    return {
      workers,
      calls: calls.map((row) => ({ ...row, latencies: JSON.parse(row.latencies) as number[] })),
    };
  }

  /**
   * Other nodes' news, from LISTEN on a connection of its own (see PostgresNotifier). A dropped
   * connection is re-opened; what was notified in between is not replayed — the engine's
   * periodic scans cover it.
   */
  private async listenForNews(
    listener: (notification: StoreNotification) => void,
  ): Promise<() => Promise<void>> {
    const notifier = new PostgresNotifier({
      connectionString: this.options.connectionString,
      onError: (e) => this.options.onConnectionError?.(e),
    });
    this.notifiers.add(notifier);
    const stop = async (): Promise<void> => {
      this.notifiers.delete(notifier);
      await notifier.close();
    };
    try {
      await notifier.listen(Channel.Runs, (payload) => {
        if (payload === null) listener({ channel: "resync" });
        else if (payload.endsWith(ENDED_SUFFIX))
          listener({ channel: "runs", runId: payload.slice(0, -ENDED_SUFFIX.length), ended: true });
        else listener({ channel: "runs", runId: payload, ended: false });
      });
      await notifier.listen(Channel.Tasks, (service) => {
        if (service !== null) listener({ channel: "tasks", service });
      });
    } catch (e) {
      await stop();
      throw e;
    }
    return stop;
  }

  upsertSchedule(
    spec: ScheduleSpec,
    nextFireAt: number | null,
    now: number,
  ): Promise<{ created: boolean; schedule: ScheduleRecord }> {
    return this.schedules.upsert(spec, nextFireAt, now);
  }

  findSchedule(name: string): Promise<ScheduleRecord | undefined> {
    return this.schedules.find(name);
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return this.schedules.list();
  }

  advanceSchedule(advance: ScheduleAdvance): Promise<boolean> {
    return this.schedules.advance(advance);
  }

  settleScheduleTicks(name: string, pendingSince: number): Promise<void> {
    return this.schedules.settle(name, pendingSince);
  }

  setSchedulePaused(
    name: string,
    paused: boolean,
    nextFireAt: number | null,
    now: number,
  ): Promise<boolean> {
    return this.schedules.setPaused(name, paused, nextFireAt, now);
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.schedules.delete(name);
  }

  /** Ends subscriptions, then the pool once the queries in flight have finished. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.notifiers].map((notifier) => notifier.close()));
      this.notifiers.clear();
      await this.pool.end();
    })();
    return this.closing;
  }

  private async write(sql: string, values: unknown[]): Promise<void> {
    await this.rows(sql, values, "write");
  }

  /** One statement on any pooled connection (autocommit). */
  private async rows<R extends pg.QueryResultRow>(
    sql: string,
    values: unknown[],
    action = "read",
  ): Promise<R[]> {
    return queryRows<R>(this.pool, sql, values, action);
  }
}

/** `LIKE` matches `%`, `_` and the escape character `\` literally only when escaped. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
