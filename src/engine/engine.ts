import {
  BatonError,
  ConflictError,
  EventType,
  NotFoundError,
  RunStatus,
  ValidationError,
  assertRunId,
  decodeJson,
  findNonJson,
  fromErrorData,
  isRunStatus,
  isTerminal,
  RUN_STATUSES,
  newRunId,
  type BatonEvent,
  type Clock,
  type ErrorData,
  type HistoryEvent,
  type Logger,
  type Run,
  type WaitingOn,
  type ServiceInfo,
  type Task,
} from "../common/index.js";
import type {
  JournalEntry,
  RunRecord,
  SignalRecord,
  Store,
  StoreNotification,
  TaskRecord,
} from "../store/index.js";
import type { Transport } from "../transport/index.js";
import { indexWorkflows, type WorkflowDefinition } from "./definitions.js";
import { GroupCommitter } from "./group-commit.js";
import type { ExecutionHost, FaultPoint } from "./host.js";
import {
  CANCEL_SIGNAL,
  Entry,
  OPERATOR_SIGNAL,
  RESERVED_SIGNAL_PREFIX,
  ReplayIndex,
} from "./journal.js";
import { RunExecution } from "./run-execution.js";
import { toHistory, toRunView } from "./run-view.js";
import { validateInput } from "./validate-input.js";
import { WakeScheduler } from "./wake-scheduler.js";
import { ClusterMembership, type ClusterOptions } from "./cluster.js";
import { ServiceStats } from "./service-stats.js";
import { TaskQueue, type PollRequest } from "./task-queue.js";

export interface EngineOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  workflows: readonly WorkflowDefinition[];
  /** The transport that serves each service, by service name. */
  transports: ReadonlyMap<string, Transport>;
  /** How many waiting runs stay in memory; beyond that the least recently active are evicted. */
  cacheSize?: number;
  /** Test mode: after every committed operation, drop the run from memory and replay it. */
  replayAfterEveryOp?: boolean;
  /** How long `close()` lets executing steps finish. */
  closeTimeoutMs?: number;
  /** Several nodes on one database: leases, takeover, fencing, cross-node wake-ups. */
  cluster?: ClusterOptions;
  /** Test hook called at named fault points; crash tests kill the process there. */
  faultInjector?: (point: FaultPoint, runId: string) => void;
}

export interface StartOptions {
  runId?: string;
  /** Time limit in ms from now; overrides the workflow's `deadline`. */
  deadline?: number;
}

/** A run as `start` returns it: `created` is false when the run id already existed. */
export type StartedRun = Run & { created: boolean };

export interface ListQuery {
  workflow?: string;
  status?: string;
  runIdPrefix?: string;
  limit?: number;
  cursor?: string;
}

interface TerminalInfo {
  status: RunStatus;
  output?: unknown;
  error?: ErrorData;
}

const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 1000;

/** How long a run may stay due before the cluster's catch-up scan looks at it. */
const CATCH_UP_GRACE_MS = 1_000;
const CATCH_UP_BATCH = 500;
/** Several nodes, no notifications from the database: how often a long poll looks again. */
const UNNOTIFIED_POLL_RECHECK_MS = 1_000;

/**
 * The durable workflow engine: starts runs, hosts their executions, replays them after a
 * restart, and answers questions about them. No I/O of its own: the store, the transports,
 * the clock and the logger are handed in.
 */
export class Engine implements ExecutionHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly committer: GroupCommitter;
  readonly replayAfterEveryOp: boolean;
  private readonly store: Store;
  private readonly workflows: Map<string, WorkflowDefinition>;
  private readonly transports: ReadonlyMap<string, Transport>;
  private readonly executions = new Map<string, RunExecution>();
  private readonly activating = new Map<string, Promise<void>>();
  /** Waiting executions, least recently active first. */
  private readonly idle = new Map<string, RunExecution>();
  private readonly terminalWaiters = new Map<string, Array<(info: TerminalInfo) => void>>();
  private readonly listeners = new Set<(event: BatonEvent) => void>();
  private readonly scheduler: WakeScheduler;
  private readonly cacheSize: number;
  private readonly closeTimeoutMs: number;
  private readonly faultInjector: ((point: FaultPoint, runId: string) => void) | undefined;
  private readonly stats = new ServiceStats();
  private readonly tasks: TaskQueue;
  private readonly cluster: ClusterMembership | undefined;
  /** The node that owns the runs this engine executes ("local" on a single node). */
  readonly nodeId: string;
  private closed = false;

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.transports = options.transports;
    this.cacheSize = options.cacheSize ?? 2000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.replayAfterEveryOp = options.replayAfterEveryOp ?? false;
    this.faultInjector = options.faultInjector;
    this.committer = new GroupCommitter(this.store);
    this.workflows = indexWorkflows(options.workflows);
    this.tasks = new TaskQueue(
      this.store,
      this.clock,
      this.stats,
      (service) => this.transports.get(service)?.kind === "queue",
      (task) => void this.withExecution(task.runId, (run) => run.onTaskSettled(task)),
      options.cluster && !this.store.subscribe ? UNNOTIFIED_POLL_RECHECK_MS : Infinity,
    );
    this.nodeId = options.cluster?.nodeId ?? "local";
    this.cluster =
      options.cluster &&
      new ClusterMembership(options.cluster, this.store, this.clock, this.logger, {
        adopt: (runIds) => {
          for (const runId of runIds) void this.activate(runId);
        },
        lostLease: () => this.dropAll(),
        notified: (notification) => this.onNotification(notification),
        catchUp: () => this.catchUp(),
      });
    this.scheduler = new WakeScheduler(
      this.clock,
      this.store,
      this.logger,
      (runId) => this.executions.has(runId) || this.activating.has(runId),
      (runId) => void this.activate(runId),
      this.cluster?.nodeId,
    );
  }

  /** Picks up every run a previous process left unfinished, and arms the wake-ups. */
  async recover(): Promise<void> {
    await this.cluster?.join();
    const runIds = this.cluster
      ? await this.cluster.findOwnAndOrphaned()
      : await this.store.findRunsToResume(this.clock.now());
    if (runIds.length) this.logger.info({ runs: runIds.length }, "resuming unfinished runs");
    await Promise.all(runIds.map((runId) => this.activate(runId)));
    this.scheduler.note((await this.store.nextWakeAt(this.cluster?.nodeId)) ?? null);
  }

  // ─── Public operations ───────────────────────────────────────────────────────────────

  async start(
    workflow: WorkflowDefinition | string,
    input: unknown,
    options: StartOptions = {},
  ): Promise<StartedRun> {
    this.assertOpen();
    const definition = this.getWorkflow(typeof workflow === "string" ? workflow : workflow.name);
    const runId =
      options.runId === undefined ? newRunId(this.clock.now()) : assertRunId(options.runId);
    const parsed = validateInput(definition, input);
    const now = this.clock.now();
    const run = {
      runId,
      workflow: definition.name,
      input: input === undefined ? null : JSON.stringify(input),
      createdAt: now,
      parentRunId: null,
      parentSeq: null,
      owner: this.nodeId,
      firstEntry: {
        position: 0,
        seq: null,
        type: Entry.RunStarted,
        name: null,
        data: null,
        at: now,
      },
    };
    const result = await this.committer.submit({ type: "createRun", run });
    if (!result.ok) throw fromErrorData(result.error);
    if (!result.created) {
      const existing = result.run!;
      if (existing.workflow !== definition.name) {
        throw new ConflictError(
          "RUN_ID_IN_USE",
          `run id ${runId} is already used by a run of workflow ${existing.workflow}`,
          {
            runId,
            workflow: existing.workflow,
          },
        );
      }
      return { ...(await this.get(runId)), created: false };
    }
    const record: RunRecord = {
      ...run,
      status: RunStatus.Pending,
      output: null,
      error: null,
      updatedAt: now,
      wakeAt: null,
      waitingOn: null,
      journalLength: 1,
      epoch: 0,
      owner: this.nodeId,
    };
    if (this.listeners.size > 0) {
      this.emit({
        type: EventType.RunStarted,
        runId,
        workflow: definition.name,
        status: RunStatus.Pending,
        at: iso(now),
      });
    }
    if (!this.executions.has(runId)) this.launch(record, definition, [run.firstEntry], [], parsed);
    const createdAt = iso(now);
    // Built by hand, not from the row: the input is the caller's own value, not parsed back.
    return {
      runId,
      workflow: definition.name,
      status: RunStatus.Pending,
      input,
      createdAt,
      updatedAt: createdAt,
      steps: [],
      created: true,
    };
  }

  /** The run, with its steps; throws RUN_NOT_FOUND. */
  async get(runId: string): Promise<Run> {
    const run = await this.find(runId);
    if (!run) throw new NotFoundError("RUN_NOT_FOUND", `run ${runId} does not exist`, { runId });
    return run;
  }

  async find(runId: string): Promise<Run | undefined> {
    const record = await this.store.findRun(runId);
    if (!record) return undefined;
    const run = toRunView(record, await this.store.readJournal(runId), this.executions.get(runId));
    if (run.waitingOn?.kind === "task" && run.waitingOn.service !== undefined)
      run.waitingOn = await this.describeQueueWait(run.waitingOn, run.waitingOn.service);
    if (
      this.cluster &&
      !isTerminal(record.status) &&
      record.owner &&
      record.owner !== this.nodeId &&
      !this.executions.has(runId)
    )
      await this.describeOwnerDown(run, record, record.owner);
    return run;
  }

  /** A run whose node died: it waits for another node to take it over (waitingOn kind "lease"). */
  private async describeOwnerDown(run: Run, record: RunRecord, owner: string): Promise<void> {
    const expiresAt = await this.store.nodeLeaseExpiresAt(owner);
    const now = this.clock.now();
    if (expiresAt !== undefined && expiresAt > now) return;
    const since = expiresAt === undefined ? "" : ` at ${iso(expiresAt)}`;
    const due =
      record.status !== RunStatus.Waiting || (record.wakeAt !== null && record.wakeAt <= now);
    if (!due) {
      // It sleeps or waits for news: whichever node wakes it takes it over then.
      if (run.waitingOn) {
        run.waitingOn = {
          ...run.waitingOn,
          reason: `${run.waitingOn.reason}; its node ${owner} is down, so another node takes it over when it wakes`,
        };
      }
      return;
    }
    const successor = this.workflows.has(record.workflow)
      ? "a live node takes it over within seconds"
      : `it waits for a node that runs workflow ${record.workflow} to take it over`;
    run.waitingOn = {
      kind: "lease",
      reason: `its node ${owner} stopped renewing its lease${since}; ${successor}`,
    };
  }

  /** A wait for a worker, with what an operator needs to act: queue depth and workers seen. */
  private async describeQueueWait(waitingOn: WaitingOn, service: string): Promise<WaitingOn> {
    const counts = await this.store.taskCounts();
    const queueDepth =
      counts.find((c) => c.service === service && c.status === "queued")?.count ?? 0;
    const workers = this.stats.workerCount(service, this.clock.now());
    const reason =
      workers === 0
        ? `${waitingOn.reason}; no ${service} worker has polled in the last 30 s`
        : `${waitingOn.reason}; ${queueDepth} queued, ${workers} worker${workers === 1 ? "" : "s"} polling`;
    return { ...waitingOn, queueDepth, workers, reason };
  }

  /** Runs newest first, without their steps (get one run for those). */
  async list(query: ListQuery = {}): Promise<{ runs: Run[]; nextCursor?: string }> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}, got ${limit}`,
      );
    }
    if (query.status !== undefined && !isRunStatus(query.status)) {
      throw new ValidationError(
        "INVALID_STATUS",
        `status ${JSON.stringify(query.status)} is not one of pending, running, waiting, compensating, completed, compensated, failed, cancelled`,
      );
    }
    const page = await this.store.listRuns({
      limit,
      ...(query.workflow !== undefined ? { workflow: query.workflow } : {}),
      ...(query.status !== undefined ? { status: query.status } : {}),
      ...(query.runIdPrefix !== undefined ? { runIdPrefix: query.runIdPrefix } : {}),
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    });
    const runs = page.runs.map((record) => toRunView(record));
    return page.nextCursor ? { runs, nextCursor: page.nextCursor } : { runs };
  }

  /** The run's journal, oldest first. */
  /**
   * The durable event log (run.completed, run.failed, run.cancelled, recorded with each run's
   * end on whichever node ran it), oldest first after `afterId`: ids only grow, so a consumer
   * resumes where it stopped.
   */
  async readEvents(afterId: number, limit: number): Promise<BatonEvent[]> {
    const records = await this.store.readEvents(afterId, limit);
    return records.map((record) => ({
      id: record.eventId!,
      type: record.type as EventType,
      runId: record.runId,
      workflow: record.workflow,
      status: record.status,
      at: iso(record.at),
      data: decodeJson(record.data) ?? {},
    }));
  }

  async history(runId: string): Promise<HistoryEvent[]> {
    await this.getRecord(runId);
    return toHistory(await this.store.readJournal(runId));
  }

  /** Sends a signal; it is kept until the run waits for it. */
  async signal(runId: string, name: string, payload?: unknown): Promise<void> {
    this.assertOpen();
    if (typeof name !== "string" || name.length === 0 || name.length > 200) {
      throw new ValidationError("INVALID_ARGUMENT", "a signal name is 1–200 characters");
    }
    if (name.startsWith(RESERVED_SIGNAL_PREFIX)) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `signal names starting with "${RESERVED_SIGNAL_PREFIX}" are Baton's own; choose another name`,
      );
    }
    const problem = payload === undefined ? undefined : findNonJson(payload, "payload");
    if (problem)
      throw new ValidationError("INPUT_NOT_JSON", `signal payload is not JSON: ${problem}`);
    await this.sendSignal(runId, name, payload);
  }

  /**
   * Cancels a run: it stops, its compensations run, it ends `cancelled`. The request is a
   * reserved signal, durable when this returns, so it reaches the run on whichever node runs it.
   */
  async cancel(runId: string, reason = "cancelled on request"): Promise<void> {
    this.assertOpen();
    await this.sendSignal(runId, CANCEL_SIGNAL, { reason });
  }

  /** Stores a signal durably (waking the run), then hands it to the run if it is here. */
  private async sendSignal(runId: string, name: string, payload: unknown): Promise<void> {
    const execution = this.executions.get(runId);
    if (!execution || execution.terminal) {
      const record = await this.getRecord(runId);
      if (isTerminal(record.status) || execution?.terminal)
        throw terminalError(runId, execution?.terminal?.status ?? record.status);
    }
    const sentAt = this.clock.now();
    const encoded = payload === undefined ? null : JSON.stringify(payload);
    const result = await this.committer.submit({
      type: "insertSignal",
      runId,
      name,
      payload: encoded,
      sentAt,
    });
    if (!result.ok) throw fromErrorData(result.error);
    const signal = { signalId: result.signalId!, runId, name, payload: encoded, sentAt };
    await this.withExecution(runId, (run) => run.receiveSignal(signal));
  }

  /**
   * Operator action on a rollback whose compensation of `seq` failed for good and waits (policy
   * `event`, or `retry` between attempts): records it as skipped and goes on with the others.
   * Durable when this returns; reaches the run on whichever node executes it.
   */
  async skipCompensation(runId: string, seq: number): Promise<void> {
    this.assertOpen();
    if (!Number.isInteger(seq) || seq < 1) {
      throw new ValidationError("INVALID_ARGUMENT", `seq must be a whole number ≥ 1, got ${seq}`);
    }
    const record = await this.getRecord(runId);
    if (isTerminal(record.status)) throw terminalError(runId, record.status);
    if (failedCompensationOf(record) !== seq) {
      throw new ConflictError(
        "NO_FAILED_COMPENSATION",
        `run ${runId} has no failed compensation of seq ${seq} waiting for an operator` +
          (record.waitingOn
            ? ` (it is ${record.status}: ${record.waitingOn.reason})`
            : ` (it is ${record.status})`),
        { status: record.status, seq },
      );
    }
    await this.sendSignal(runId, OPERATOR_SIGNAL, { action: "skip", seq });
  }

  /**
   * Resumes a `failed` run where it stopped (completed steps are not executed again), or, for a
   * rollback waiting on a failed compensation, runs that compensation again.
   */
  async retry(runId: string): Promise<void> {
    this.assertOpen();
    const record = await this.getRecord(runId);
    const failedCompensation = failedCompensationOf(record);
    if (failedCompensation !== undefined) {
      await this.sendSignal(runId, OPERATOR_SIGNAL, { action: "retry", seq: failedCompensation });
      return;
    }
    if (record.status !== RunStatus.Failed) {
      throw new ConflictError(
        "RUN_NOT_FAILED",
        `run ${runId} is ${record.status}; only a failed run can be retried`,
        {
          status: record.status,
        },
      );
    }
    this.getWorkflow(record.workflow);
    const index = new ReplayIndex(await this.store.readJournal(runId));
    const causeSeq = index.lastFailure?.causeSeq;
    const now = this.clock.now();
    const result = await this.committer.submit({
      type: "appendRun",
      runId,
      epoch: record.epoch,
      expectedLength: record.journalLength,
      entries: [
        {
          position: record.journalLength,
          seq: null,
          type: Entry.RunRetried,
          name: null,
          data: JSON.stringify({ voidSeqs: causeSeq === undefined ? [] : [causeSeq] }),
          at: now,
        },
      ],
      update: {
        status: RunStatus.Running,
        updatedAt: now,
        wakeAt: null,
        waitingOn: null,
        output: null,
        error: null,
      },
    });
    if (!result.ok)
      throw new ConflictError(
        "CONFLICT",
        `run ${runId} changed while it was being retried; try again`,
      );
    this.emit({
      type: EventType.RunRetried,
      runId,
      workflow: record.workflow,
      status: RunStatus.Running,
      at: iso(now),
    });
    await this.activate(runId);
  }

  /** Awaits the run's end: its output, or a RUN_FAILED error carrying its status and error. */
  async result(runId: string): Promise<unknown> {
    const info = await this.waitForEnd(runId);
    if (info.status === RunStatus.Completed) return info.output;
    throw new BatonError(
      "RUN_FAILED",
      `run ${runId} ended ${info.status}: ${info.error?.message ?? ""}`,
      {
        details: { runId, status: info.status, error: info.error },
      },
    );
  }

  /** The run once it is terminal, or as it is when `timeoutMs` passes. */
  async wait(runId: string, timeoutMs?: number): Promise<Run> {
    await this.getRecord(runId);
    if (timeoutMs === undefined) {
      await this.waitForEnd(runId);
    } else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.waitForEnd(runId),
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    return this.get(runId);
  }

  async workflowCounts(): Promise<
    Array<{ name: string; registered: boolean } & Record<RunStatus, number>>
  > {
    const counts = new Map<string, Record<string, number>>();
    for (const name of this.workflows.keys()) counts.set(name, {});
    for (const row of await this.store.countRunsByWorkflow()) {
      const byStatus = counts.get(row.workflow) ?? {};
      byStatus[row.status] = row.count;
      counts.set(row.workflow, byStatus);
    }
    return [...counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, byStatus]) => ({
        name,
        registered: this.workflows.has(name),
        ...(Object.fromEntries(RUN_STATUSES.map((s) => [s, byStatus[s] ?? 0])) as Record<
          RunStatus,
          number
        >),
      }));
  }

  // ─── The worker side of the queue (docs/workers.md) ──────────────────────────────────

  /** Leases up to `max` tasks of a queue-served service; waits up to `waitMs` for one. */
  pollTasks(service: string, request: PollRequest): Promise<Task[]> {
    this.assertOpen();
    return this.tasks.poll(service, request);
  }

  /** Records a worker's output; completing twice is harmless; a lost lease is LEASE_LOST. */
  completeTask(taskId: string, output: unknown): Promise<void> {
    this.assertOpen();
    return this.tasks.complete(taskId, output);
  }

  /** Records a worker's failure; the call's retry policy decides what happens next. */
  failTask(
    taskId: string,
    error: { message: string; type?: string; code?: string },
    retryable?: boolean,
  ): Promise<void> {
    this.assertOpen();
    return this.tasks.fail(taskId, error, retryable);
  }

  heartbeatTask(taskId: string): Promise<{ leaseExpiresAt: string }> {
    this.assertOpen();
    return this.tasks.heartbeat(taskId);
  }

  /** Every registered service with its transport, queue depth, workers and recent outcomes. */
  async services(): Promise<ServiceInfo[]> {
    const now = this.clock.now();
    const counts = await this.store.taskCounts();
    const count = (service: string, status: string): number =>
      counts.find((c) => c.service === service && c.status === status)?.count ?? 0;
    return [...this.transports.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, transport]) => {
        const summary = this.stats.summary(name);
        const info: ServiceInfo = {
          name,
          transport: transport.kind,
          queueDepth: transport.kind === "queue" ? count(name, "queued") : 0,
          inFlight: transport.kind === "queue" ? count(name, "leased") : this.stats.inFlight(name),
          workers: transport.kind === "queue" ? this.stats.workerCount(name, now) : 0,
          ...summary,
        };
        if (transport.kind === "queue") info.leaseMs = transport.leaseMs;
        if ("baseUrl" in transport && typeof transport.baseUrl === "string")
          info.baseUrl = transport.baseUrl;
        return info;
      });
  }

  /** Subscribes to run events; returns the unsubscribe function. */
  on(listener: (event: BatonEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops taking work, lets executing steps finish (up to the close timeout), commits, stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.stop();
    await this.cluster?.leave();
    const deadline = Date.now() + this.closeTimeoutMs;
    while (
      Date.now() < deadline &&
      [...this.executions.values()].some((run) => run.executing > 0)
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.allSettled(this.activating.values());
    await this.committer.idle();
    for (const run of this.executions.values()) run.halt();
    this.executions.clear();
    this.idle.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Number of runs held in memory (the rest wait in the store). */
  get residentRuns(): number {
    return this.executions.size;
  }

  // ─── ExecutionHost ───────────────────────────────────────────────────────────────────

  findWorkflow(name: string): WorkflowDefinition | undefined {
    return this.workflows.get(name);
  }

  findTransport(service: string): Transport | undefined {
    return this.transports.get(service);
  }

  findRun(runId: string): Promise<RunRecord | undefined> {
    return this.store.findRun(runId);
  }

  findTask(taskKey: string): Promise<TaskRecord | undefined> {
    return this.store.findTask(taskKey);
  }

  findRunSignals(runId: string): Promise<SignalRecord[]> {
    return this.store.pendingSignals(runId);
  }

  onTasksQueued(services: string[]): void {
    this.tasks.notify(services);
  }

  recordCall(service: string, ok: boolean, latencyMs: number): void {
    this.stats.record(service, ok, latencyMs);
  }

  trackCall(service: string, delta: number): void {
    this.stats.trackInFlight(service, delta);
  }

  onTerminal(hosted: { runId: string }): void {
    const run = this.executions.get(hosted.runId);
    if (!run?.terminal) return;
    this.executions.delete(run.runId);
    this.idle.delete(run.runId);
    const info = run.terminal;
    const waiters = this.terminalWaiters.get(run.runId);
    if (waiters) {
      this.terminalWaiters.delete(run.runId);
      for (const resolve of waiters) resolve(info);
    }
    const record = run.recordRef;
    if (record.parentRunId) {
      const parentRunId = record.parentRunId;
      void this.store.findRun(run.runId).then((child) => {
        if (child) return this.withExecution(parentRunId, (parent) => parent.onChildDone(child));
      });
    }
    this.emit({
      type:
        info.status === RunStatus.Completed
          ? EventType.RunCompleted
          : info.status === RunStatus.Cancelled
            ? EventType.RunCancelled
            : EventType.RunFailed,
      runId: run.runId,
      workflow: run.workflow,
      status: info.status,
      at: iso(this.clock.now()),
      data: info.error ? { error: info.error } : { output: info.output },
    });
  }

  onIdle(hosted: { runId: string }): void {
    const run = this.executions.get(hosted.runId);
    if (!run) return;
    this.idle.delete(run.runId);
    this.idle.set(run.runId, run);
    while (this.idle.size > this.cacheSize) {
      const [oldestId, oldest] = this.idle.entries().next().value as [string, RunExecution];
      this.idle.delete(oldestId);
      if (oldest.isIdle()) this.evict(oldest);
    }
  }

  onChildrenCreated(_parent: { runId: string }, childRunIds: string[]): void {
    for (const runId of childRunIds) void this.activate(runId);
  }

  onLost(hosted: { runId: string }, reason: unknown): void {
    const runId = hosted.runId;
    this.executions.delete(runId);
    this.idle.delete(runId);
    this.logger.warn({ runId, err: reason }, "run dropped from memory; resuming it from the store");
    if (!this.closed) setTimeout(() => void this.activate(runId), 1000);
  }

  onReplayPoint(hosted: { runId: string }): void {
    const run = this.executions.get(hosted.runId);
    if (!run) return;
    this.evict(run);
    void this.activate(run.runId);
  }

  cancelRun(runId: string, reason: string): void {
    this.cancel(runId, reason).catch((e: unknown) => {
      if (!(e instanceof BatonError && (e.code === "RUN_TERMINAL" || e.code === "ENGINE_CLOSED"))) {
        this.logger.warn({ runId, err: e }, "could not cancel child run");
      }
    });
  }

  fault(point: FaultPoint, runId: string): void {
    this.faultInjector?.(point, runId);
  }

  emit(event: BatonEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        this.logger.error({ err: e, event: event.type }, "event listener threw");
      }
    }
  }

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  // ─── Internals ───────────────────────────────────────────────────────────────────────

  /** Loads a run from the store and resumes it by replay; no-op if in memory or finished. */
  activate(runId: string): Promise<void> {
    if (this.closed || this.executions.has(runId)) return Promise.resolve();
    const inProgress = this.activating.get(runId);
    if (inProgress) return inProgress;
    const activation = this.load(runId)
      .catch((e: unknown) => this.logger.error({ runId, err: e }, "could not resume run"))
      .finally(() => this.activating.delete(runId));
    this.activating.set(runId, activation);
    return activation;
  }

  private async load(runId: string): Promise<void> {
    if (this.cluster) {
      // Never take a run this node cannot execute (during a rolling deploy, its workflow may
      // exist only on newer nodes): owning it would keep the nodes that can from taking it.
      const seen = await this.store.findRun(runId);
      if (!seen || isTerminal(seen.status) || !this.workflows.has(seen.workflow)) return;
    }
    // In a cluster, a run is resumed only by the node that acquires it (which fences the last one).
    const record = this.cluster
      ? await this.store.acquireRun(runId, this.nodeId, this.clock.now())
      : await this.store.findRun(runId);
    if (!record || isTerminal(record.status)) return;
    const definition = this.workflows.get(record.workflow);
    if (!definition) {
      this.logger.warn(
        { runId, workflow: record.workflow },
        "run waits: its workflow is not registered on this node",
      );
      return;
    }
    const [journal, signals] = await Promise.all([
      this.store.readJournal(runId),
      this.store.pendingSignals(runId),
    ]);
    if (this.closed || this.executions.has(runId)) return;
    let input = decodeJson(record.input);
    try {
      input = validateInput(definition, input);
    } catch (e) {
      this.logger.warn(
        { runId, err: e },
        "stored input no longer matches the workflow's schema; passing it unparsed",
      );
    }
    this.launch(record, definition, journal, signals, input);
  }

  private launch(
    record: RunRecord,
    definition: WorkflowDefinition,
    journal: readonly JournalEntry[],
    signals: SignalRecord[],
    input: unknown,
  ): void {
    const run = new RunExecution(this, record, definition, journal, signals);
    this.executions.set(record.runId, run);
    run.start(input);
  }

  /** Runs `fn` on the run in memory, or loads it (the store already has what `fn` would tell it). */
  private async withExecution(runId: string, fn: (run: RunExecution) => void): Promise<void> {
    const inProgress = this.activating.get(runId);
    if (inProgress) await inProgress;
    const run = this.executions.get(runId);
    if (run) fn(run);
    else await this.activate(runId);
  }

  private evict(run: RunExecution): void {
    run.halt();
    this.executions.delete(run.runId);
    this.idle.delete(run.runId);
    this.scheduler.note(run.wakeAt);
    // Give it back, so whichever node is woken for it first can take it.
    if (this.cluster) {
      this.store
        .releaseRun(run.runId, this.nodeId, run.epoch)
        .catch((e: unknown) =>
          this.logger.warn({ runId: run.runId, err: e }, "could not release run"),
        );
    }
  }

  /** The lease lapsed: runs held in memory may belong to another node by now. */
  private dropAll(): void {
    for (const run of this.executions.values()) run.halt();
    this.executions.clear();
    this.idle.clear();
  }

  /** News from another node (or a store trigger): a run to look at, or tasks to hand out. */
  private onNotification(notification: StoreNotification): void {
    if (notification.channel === "tasks") {
      this.tasks.notify([notification.service]);
      return;
    }
    if (notification.channel === "resync") {
      // Wake-ups may have been missed: look for due runs, queued tasks and ended runs again.
      this.scheduler.note(this.clock.now());
      this.tasks.notify([...this.transports.keys()]);
      for (const runId of this.terminalWaiters.keys()) this.checkEnded(runId);
      return;
    }
    const runId = notification.runId;
    if (notification.ended) {
      // Nothing to resume; only callers awaiting its result here want to know.
      if (this.terminalWaiters.has(runId)) this.checkEnded(runId);
      return;
    }
    const run = this.executions.get(runId);
    if (run) {
      run
        .refresh()
        .catch((e: unknown) => this.logger.warn({ runId, err: e }, "could not refresh run"));
      return;
    }
    if (this.terminalWaiters.has(runId)) this.checkEnded(runId);
    void this.activate(runId);
  }

  private async catchUp(): Promise<void> {
    // Due for longer than a moment: a live owner would have woken it on the notification.
    const due = await this.store.findDueRuns(
      this.clock.now() - CATCH_UP_GRACE_MS,
      CATCH_UP_BATCH,
      this.cluster?.nodeId,
    );
    for (const { runId } of due) {
      const run = this.executions.get(runId);
      if (run) {
        run
          .refresh()
          .catch((e: unknown) => this.logger.warn({ runId, err: e }, "could not refresh run"));
      } else if (!this.activating.has(runId)) void this.activate(runId);
    }
  }

  private pollEnd(runId: string, waiter: (info: TerminalInfo) => void): void {
    const timer = setInterval(() => {
      if (this.closed || !this.terminalWaiters.get(runId)?.includes(waiter)) clearInterval(timer);
      else this.checkEnded(runId);
    }, 1000);
  }

  /** Resolves the end waiters of a run that this node does not execute, if it ended. */
  private checkEnded(runId: string): void {
    this.store
      .findRun(runId)
      .then((record) => {
        if (!record || !isTerminal(record.status) || this.executions.has(runId)) return;
        const waiters = this.terminalWaiters.get(runId);
        this.terminalWaiters.delete(runId);
        const info: TerminalInfo = { status: record.status };
        if (record.output !== null) info.output = decodeJson(record.output);
        if (record.error) info.error = record.error;
        for (const resolve of waiters ?? []) resolve(info);
      })
      .catch((e: unknown) =>
        this.logger.warn({ runId, err: e }, "could not check whether a run ended"),
      );
  }

  holdsLease(): boolean {
    return this.cluster ? this.cluster.holdsLease() : true;
  }

  private waitForEnd(runId: string): Promise<TerminalInfo> {
    return new Promise((resolve, reject) => {
      const waiters = this.terminalWaiters.get(runId) ?? [];
      waiters.push(resolve);
      this.terminalWaiters.set(runId, waiters);
      // A run in memory reports its own end; no need to look.
      const resident = this.executions.get(runId);
      if (resident && !resident.terminal) return;
      // Another node may run it: look again now and then until it ends, in case a wake-up is lost.
      if (this.cluster) this.pollEnd(runId, resolve);
      // Look after registering, so an end that lands in between is not missed.
      this.store.findRun(runId).then((record) => {
        if (!record)
          reject(new NotFoundError("RUN_NOT_FOUND", `run ${runId} does not exist`, { runId }));
        else if (isTerminal(record.status) && !this.executions.get(runId)) {
          const info: TerminalInfo = { status: record.status };
          if (record.output !== null) info.output = decodeJson(record.output);
          if (record.error) info.error = record.error;
          resolve(info);
        } else return;
        const list = this.terminalWaiters.get(runId)?.filter((w) => w !== resolve);
        if (list?.length) this.terminalWaiters.set(runId, list);
        else this.terminalWaiters.delete(runId);
      }, reject);
    });
  }

  private async getRecord(runId: string): Promise<RunRecord> {
    const record = await this.store.findRun(runId);
    if (!record) throw new NotFoundError("RUN_NOT_FOUND", `run ${runId} does not exist`, { runId });
    return record;
  }

  private getWorkflow(name: string): WorkflowDefinition {
    const definition = this.workflows.get(name);
    if (!definition) {
      throw new NotFoundError(
        "WORKFLOW_NOT_FOUND",
        `workflow ${JSON.stringify(name)} is not registered`,
        { workflow: name },
      );
    }
    return definition;
  }

  private assertOpen(): void {
    if (this.closed) throw new BatonError("ENGINE_CLOSED", "the engine is closed");
  }
}

function terminalError(runId: string, status: RunStatus): ConflictError {
  return new ConflictError(
    "RUN_TERMINAL",
    `run ${runId} is ${status} and takes no more signals, cancels or retries`,
    { status },
  );
}

/** The seq whose compensation failed and waits for an operator or its next attempt, if any. */
function failedCompensationOf(record: RunRecord): number | undefined {
  const waiting = record.waitingOn;
  if (record.status !== RunStatus.Compensating || !waiting) return undefined;
  if (waiting.kind !== "operator" && waiting.kind !== "retry") return undefined;
  return waiting.compensates;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
