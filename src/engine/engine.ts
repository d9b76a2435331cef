import {
  BatonError,
  ConflictError,
  EventType,
  NotFoundError,
  RunStatus,
  ValidationError,
  assertRunId,
  findNonJson,
  fromErrorData,
  isTerminal,
  newRunId,
  validateTags,
  type BatonEvent,
  type Clock,
  type HistoryEvent,
  type Logger,
  type Run,
  type TimerHandle,
  type WaitingOn,
  type ServiceInfo,
  type Task,
} from "../common/index.js";
import type {
  EventFilter,
  NewRun,
  RunRecord,
  SignalRecord,
  Store,
  TaskRecord,
} from "../store/index.js";
import type { TaskPort, Transport } from "../transport/index.js";
import type { WorkflowDefinition } from "./definitions.js";
import { WorkflowVersions } from "./versions.js";
import { GroupCommitter } from "./group-commit.js";
import type { ExecutionHost, FaultPoint } from "./host.js";
import {
  CANCEL_SIGNAL,
  Entry,
  OPERATOR_SIGNAL,
  RESERVED_SIGNAL_PREFIX,
  WAKE_SIGNAL,
  ReplayIndex,
} from "./journal.js";
import { ClusterInbox } from "./cluster-inbox.js";
import { EndWaiters } from "./end-waiters.js";
import { RunReads, type ListQuery } from "./run-reads.js";
import { RunRegistry } from "./run-registry.js";
import { validateInput } from "./validate-input.js";
import { invalidLimit, isTextOverLimit, resolveLimits, type RunLimits } from "./core/limits.js";
import { WakeScheduler } from "./wake-scheduler.js";
import { TriggerIndex } from "./triggers.js";
import { publishEvent, type PublishOptions, type PublishResult } from "./publish-event.js";
import type { TriggerEvent } from "./context.js";
import { ClusterMembership, type ClusterOptions } from "./cluster.js";
import { ServiceStats } from "./service-stats.js";
import { LocalServiceView, SharedServiceView } from "./service-view.js";
import { TaskQueue, type PollRequest } from "./task-queue.js";
import { runStartedData } from "./tracing.js";
import type { ScheduleDefinition } from "./schedules/schedule-spec.js";
import { Schedules, checkSchedules } from "./schedules/schedules.js";
import { DEFAULT_RETENTION_MS, retentionOf } from "./retention.js";
import { RetentionSweeper, type RetentionSweeperOptions } from "./retention-sweeper.js";

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
  /** Size limits of every run (a workflow's own `limits` win); unset ones take the defaults. */
  limits?: Partial<RunLimits>;
  /** Schedules declared in code, upserted when the engine recovers (docs/schedules.md). */
  schedules?: readonly ScheduleDefinition[];
  /**
   * How long runs are kept once they end, in ms, unless their workflow says (default 30 days);
   * 0 keeps them forever. Fixed on each run as it ends (docs/operations.md, "Retention").
   */
  retentionMs?: number;
  /** Batch size and pacing of the sweeper that deletes expired runs. */
  sweeper?: RetentionSweeperOptions;
}

export interface StartOptions {
  runId?: string;
  /** Time limit in ms from now; overrides the workflow's `deadline` (docs/workflows.md). */
  deadline?: number;
  /** Tags to search the run by: at most 16 string keys and values (INVALID_TAGS otherwise). */
  tags?: Record<string, string>;
  /** W3C trace context of the caller: every span of the run joins its trace (ignored if invalid). */
  traceparent?: string;
  /**
   * Start this version of the workflow instead of the newest registered (VERSION_NOT_FOUND if
   * it is not registered on this node): for canaries, and to keep starting the old code while a
   * new version is tried out (docs/versions.md).
   */
  version?: number;
}

/** A run as `start` returns it: `created` is false when the run id already existed. */
export type StartedRun = Run & { created: boolean };

/** How long a cancel waits to see the run take it (else it is taken when the run wakes). */
const CANCEL_CONFIRM_MS = 2_000;
const CANCEL_CONFIRM_POLL_MS = 20;
/** How often a node looks for its unfinished runs that are not in memory. */
const RESCAN_MS = 15_000;
/** A run dropped after a failed write is resumed from the store after this long. */
const LOST_RUN_RESUME_MS = 1_000;
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
  readonly limits: Partial<RunLimits> | undefined;
  private readonly store: Store;
  private readonly workflows: ReadonlyMap<string, WorkflowDefinition>;
  private readonly versions: WorkflowVersions;
  private readonly triggers: TriggerIndex;
  private readonly transports: ReadonlyMap<string, Transport>;
  private readonly runs: RunRegistry;
  private readonly reads: RunReads;
  private readonly endWaiters: EndWaiters;
  private readonly listeners = new Set<(event: BatonEvent) => void>();
  private readonly scheduler: WakeScheduler;
  private readonly closeTimeoutMs: number;
  private readonly faultInjector: ((point: FaultPoint, runId: string) => void) | undefined;
  private readonly stats = new ServiceStats();
  /** Set with several nodes: the services view every node shares. */
  private readonly sharedView: SharedServiceView | undefined;
  private readonly tasks: TaskQueue;
  private readonly cluster: ClusterMembership | undefined;
  /** The node that owns the runs this engine executes ("local" on a single node). */
  readonly nodeId: string;
  private closed = false;
  private rescanTimer: TimerHandle | undefined;
  /** Schedules: declared in code or through the API, and the ticker that fires them. */
  readonly schedules: Schedules;
  private readonly retentionMs: number;
  private readonly sweeper: RetentionSweeper;

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.transports = options.transports;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.replayAfterEveryOp = options.replayAfterEveryOp ?? false;
    for (const [key, value] of Object.entries(options.limits ?? {})) {
      const problem = invalidLimit(key, value);
      if (problem) throw new ValidationError("INVALID_ARGUMENT", problem);
    }
    this.limits = options.limits;
    this.faultInjector = options.faultInjector;
    this.committer = new GroupCommitter(this.store);
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    if (!Number.isSafeInteger(this.retentionMs) || this.retentionMs < 0) {
      throw new ValidationError(
        "INVALID_DURATION",
        `retention must be a whole number of ms, 0 or more, got ${String(options.retentionMs)}`,
      );
    }
    this.sweeper = new RetentionSweeper(this.store, this.clock, this.logger, {
      // Several nodes: a node also looks now and then for runs other nodes left to expire.
      ...(options.cluster ? { idleRecheckMs: 15 * 60_000 } : {}),
      ...options.sweeper,
    });
    this.versions = new WorkflowVersions(options.workflows);
    this.workflows = this.versions.newest;
    checkSchedules(options.schedules ?? [], options.workflows, this.clock.now());
    // A trigger starts a run of the newest version, as any new run.
    this.triggers = new TriggerIndex(this.workflows.values());
    this.nodeId = options.cluster?.nodeId ?? "local";
    const clusterNodeId = options.cluster?.nodeId;
    const isClosed = (): boolean => this.closed;
    this.runs = new RunRegistry(
      this,
      this.store,
      this.clock,
      this.logger,
      this.versions,
      options.cacheSize ?? 2000,
      clusterNodeId,
      isClosed,
      (wakeAt) => this.scheduler.note(wakeAt),
    );
    this.sharedView =
      clusterNodeId === undefined
        ? undefined
        : new SharedServiceView(this.store, this.clock, this.logger, this.stats, clusterNodeId);
    this.reads = new RunReads(
      this.store,
      this.clock,
      this.sharedView ?? new LocalServiceView(this.stats, this.clock),
      this.workflows,
      this.transports,
      (runId) => this.runs.get(runId),
      clusterNodeId,
      (workflow) => this.versions.versionsOf(workflow),
    );
    this.endWaiters = new EndWaiters(
      this.store,
      this.clock,
      this.logger,
      (runId) => {
        const run = this.runs.get(runId);
        return run !== undefined && !run.terminal;
      },
      (runId) => this.runs.get(runId) !== undefined,
      options.cluster !== undefined,
      isClosed,
    );
    this.tasks = new TaskQueue(
      this.store,
      this.clock,
      this.stats,
      (service) => this.transports.get(service)?.kind === "queue",
      (task) => void this.runs.withExecution(task.runId, (run) => run.onTaskSettled(task)),
      options.cluster && !this.store.subscribe ? UNNOTIFIED_POLL_RECHECK_MS : Infinity,
      // One node hears of every expiry it must by its hints; several nodes also sweep now and then.
      {
        logger: this.logger,
        safetySweepMs: options.cluster ? 5_000 : Infinity,
        ...(clusterNodeId !== undefined ? { nodeId: clusterNodeId } : {}),
      },
    );
    this.scheduler = new WakeScheduler(
      this.clock,
      this.store,
      this.logger,
      (runId) => this.runs.isPresent(runId),
      (runId) => void this.runs.activate(runId),
      clusterNodeId,
    );
    this.schedules = new Schedules(
      {
        clock: this.clock,
        logger: this.logger,
        store: this.store,
        hasWorkflow: (name) => this.workflows.has(name),
        findWorkflow: (name) => this.workflows.get(name),
        startRun: async (workflow, input, runId) => {
          await this.start(workflow, input, { runId });
        },
        runStatus: async (runId) => (await this.store.findRun(runId))?.status,
      },
      options.schedules ?? [],
    );
    if (options.cluster) {
      const inbox = new ClusterInbox(
        this.store,
        this.clock,
        this.logger,
        this.runs,
        this.tasks,
        this.scheduler,
        this.endWaiters,
        () => [...this.transports.keys()],
        options.cluster.nodeId,
      );
      this.cluster = new ClusterMembership(options.cluster, this.store, this.clock, this.logger, {
        adopt: (runIds) => {
          for (const runId of runIds) void this.runs.activate(runId);
        },
        lostLease: () => this.runs.dropAll(),
        notified: (notification) => inbox.onNotification(notification),
        catchUp: () => inbox.catchUp(),
      });
    }
  }

  /** Picks up every run a previous process left unfinished, and arms the wake-ups. */
  async recover(): Promise<void> {
    await this.cluster?.join();
    this.sharedView?.start();
    const runIds = this.cluster
      ? await this.cluster.findOwnAndOrphaned()
      : await this.store.findRunsToResume(this.clock.now());
    if (runIds.length) this.logger.info({ runs: runIds.length }, "resuming unfinished runs");
    await Promise.all(runIds.map((runId) => this.runs.activate(runId)));
    this.scheduler.note((await this.store.nextWakeAt(this.cluster?.nodeId)) ?? null);
    // Leases and queue deadlines that ran out while no process watched.
    this.tasks.noteExpiry();
    this.scheduleRescan();
    await this.sweeper
      .start()
      .catch((e: unknown) => this.logger.warn({ err: e }, "retention: could not read expiries"));
    // Transports that carry queued commands on themselves (a broker relay) start taking them.
    const port = this.taskPort();
    for (const transport of this.transports.values())
      if (transport.kind === "queue") transport.attach?.(port);
    await this.schedules.start();
  }

  /** The durable queue as a relay transport sees it: a worker's view plus a look-up by key. */
  private taskPort(): TaskPort {
    return {
      nodeId: this.nodeId,
      logger: this.logger,
      poll: (service, request) => {
        this.assertOpen();
        return this.tasks.poll(service, request);
      },
      complete: (taskId, output) => this.completeTask(taskId, output),
      fail: (taskId, error, retryable) => this.failTask(taskId, error, retryable),
      findTask: (taskKey) => this.store.findTask(taskKey),
    };
  }

  /**
   * Now and then, look for this node's unfinished runs that are not in memory — a load that
   * failed for good, a wake-up lost with a database outage — and resume them.
   */
  private scheduleRescan(): void {
    if (this.closed) return;
    this.rescanTimer = this.clock.setTimer(RESCAN_MS, () => {
      const found = this.cluster
        ? this.cluster.findOwnAndOrphaned()
        : this.store.findRunsToResume(this.clock.now());
      found
        .then((runIds) => {
          let resumed = 0;
          for (const runId of runIds) {
            if (this.runs.isPresent(runId)) continue;
            resumed++;
            void this.runs.activate(runId);
          }
          if (resumed)
            this.logger.warn({ runs: resumed }, "resuming runs found unfinished and not in memory");
        })
        .catch((e: unknown) => this.logger.warn({ err: e }, "could not look for unfinished runs"))
        .finally(() => this.scheduleRescan());
    });
  }

  // ─── Commands ────────────────────────────────────────────────────────────────────────

  async start(
    workflow: WorkflowDefinition | string,
    input: unknown,
    options: StartOptions = {},
  ): Promise<StartedRun> {
    this.assertOpen();
    const definition = this.versions.forNewRun(
      typeof workflow === "string" ? workflow : workflow.name,
      options.version,
    );
    const runId =
      options.runId === undefined ? newRunId(this.clock.now()) : assertRunId(options.runId);
    const tags = options.tags === undefined ? undefined : validateTags(options.tags);
    const parsed = validateInput(definition, input);
    const now = this.clock.now();
    const deadlineMs = options.deadline ?? definition.options.deadline;
    if (deadlineMs !== undefined && (!Number.isFinite(deadlineMs) || deadlineMs <= 0)) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `deadline must be a positive duration in ms, got ${String(deadlineMs)}`,
      );
    }
    const encodedInput = input === undefined ? null : JSON.stringify(input);
    const { maxOutputBytes } = resolveLimits(this.limits, definition.options.limits);
    if (encodedInput !== null && isTextOverLimit(encodedInput, maxOutputBytes)) {
      throw new ValidationError(
        "INPUT_TOO_LARGE",
        `the input of a run of ${definition.name} is larger than the limit of ${maxOutputBytes} bytes of JSON`,
        { limit: maxOutputBytes },
      );
    }
    const run = {
      runId,
      workflow: definition.name,
      input: encodedInput,
      createdAt: now,
      parentRunId: null,
      parentSeq: null,
      owner: this.nodeId,
      version: definition.version,
      ...(tags && Object.keys(tags).length ? { tags } : {}),
      firstEntry: {
        position: 0,
        seq: null,
        type: Entry.RunStarted,
        name: null,
        data: runStartedData(
          deadlineMs === undefined ? undefined : now + deadlineMs,
          options.traceparent,
          definition.version,
        ),
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
      // Created before, but never launched or lost since (a commit whose answer was lost, a node
      // that died): the run exists, so make sure it executes somewhere.
      if (!isTerminal(existing.status) && !this.runs.isPresent(runId))
        void this.runs.activate(runId);
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
      generation: 1,
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
    if (!this.runs.get(runId)) this.runs.launch(record, definition, [run.firstEntry], [], parsed);
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
      generation: 1,
      version: definition.version,
      ...(run.tags ? { tags: run.tags } : {}),
      created: true,
    };
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
    const signalId = await this.sendSignal(runId, CANCEL_SIGNAL, { reason });
    await this.confirmCancel(runId, signalId);
  }

  /**
   * A cancel that races the run's end: the request was stored while the run was still going, but
   * the run may have ended before it took the request. Look until the run has taken it (then it
   * ends `cancelled` or rolls back as asked) or has ended without it (RUN_TERMINAL, as if the
   * cancel had come a moment later); a run that takes longer than that (its node is down) will
   * take the durable request when it wakes.
   */
  private async confirmCancel(runId: string, signalId: number): Promise<void> {
    // Wall time on purpose: how long this caller waits, not the run's time.
    const deadline = Date.now() + CANCEL_CONFIRM_MS;
    for (;;) {
      const [record, pending] = await Promise.all([
        this.store.findRun(runId),
        this.store.pendingSignals(runId),
      ]);
      if (!pending.some((s) => s.signalId === signalId)) return;
      if (record && isTerminal(record.status)) throw terminalError(runId, record.status);
      if (Date.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, CANCEL_CONFIRM_POLL_MS));
    }
  }

  /** Stores a signal durably (waking the run), then hands it to the run if it is here. */
  private async sendSignal(runId: string, name: string, payload: unknown): Promise<number> {
    const execution = this.runs.get(runId);
    let workflowName = execution?.workflow;
    if (!execution || execution.terminal) {
      const record = await this.getRecord(runId);
      if (isTerminal(record.status) || execution?.terminal)
        throw terminalError(runId, execution?.terminal?.status ?? record.status);
      workflowName = record.workflow;
    }
    const sentAt = this.clock.now();
    const encoded = payload === undefined ? null : JSON.stringify(payload);
    // Baton's own signals (a cancel, an operator's action) always get through.
    const maxPending = name.startsWith(RESERVED_SIGNAL_PREFIX)
      ? undefined
      : resolveLimits(
          this.limits,
          workflowName === undefined ? undefined : this.workflows.get(workflowName)?.options.limits,
        ).maxSignals;
    const result = await this.committer.submit({
      type: "insertSignal",
      runId,
      name,
      payload: encoded,
      sentAt,
      ...(maxPending === undefined ? {} : { maxPending }),
    });
    if (!result.ok) throw fromErrorData(result.error);
    const signal = { signalId: result.signalId!, runId, name, payload: encoded, sentAt };
    await this.runs.withExecution(runId, (run) => run.receiveSignal(signal));
    return signal.signalId;
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
    if (this.failedCompensationOf(record) !== seq) {
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
    const failedCompensation = this.failedCompensationOf(record);
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
    const code = index.lastFailure?.error?.code;
    // A rollback that ran to its end left nothing to resume: what it skipped or could not settle
    // is for an operator to undo. A rollback stopped by a failed compensation resumes from it.
    if (index.rolledBack && code !== "COMPENSATION_FAILED" && code !== "NON_DETERMINISM") {
      throw new ConflictError(
        "RUN_NOT_RETRYABLE",
        `run ${runId} ended ${code ?? "failed"} after its rollback ran to the end; there is nothing left to resume` +
          (code === "PARTIALLY_COMPENSATED"
            ? " (the skipped compensations are listed in the run's error.details.skipped)"
            : ""),
        { status: record.status, code },
      );
    }
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
    if (this.cluster && record.owner && record.owner !== this.nodeId) {
      // The run's node may be alive and hold it: a durable nudge through the runs' inbox (a
      // reserved signal, which wakes the run and notifies every node) reaches it at once.
      await this.sendSignal(runId, WAKE_SIGNAL, null);
      return;
    }
    await this.runs.activate(runId);
  }

  /** Awaits the run's end: its output, or a RUN_FAILED error carrying its status and error. */
  async result(runId: string): Promise<unknown> {
    const info = await this.endWaiters.waitForEnd(runId);
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
      await this.endWaiters.waitForEnd(runId);
    } else {
      // Wall time on purpose: how long this caller waits (an HTTP `?wait=`), not the run's time.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.endWaiters.waitForEnd(runId),
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    return this.get(runId);
  }

  // ─── Reads (run-reads.ts) ─────────────────────────────────────────────────────────────

  /** The run, with its steps; throws RUN_NOT_FOUND. */
  get(runId: string): Promise<Run> {
    return this.reads.get(runId);
  }

  find(runId: string): Promise<Run | undefined> {
    return this.reads.find(runId);
  }

  /** Runs newest first, without their steps (get one run for those). */
  list(query: ListQuery = {}): Promise<{ runs: Run[]; nextCursor?: string }> {
    return this.reads.list(query);
  }

  /** The run's journal, oldest first. */
  history(runId: string): Promise<HistoryEvent[]> {
    return this.reads.history(runId);
  }

  /** The durable event log after `afterId`, oldest first (with `topic`: that topic only). */
  readEvents(afterId: number, limit: number, filter?: EventFilter): Promise<BatonEvent[]> {
    return this.reads.readEvents(afterId, limit, filter);
  }

  lastEventPosition(): Promise<number> {
    return this.store.lastEventPosition();
  }

  /**
   * Publishes a user event (docs/events.md): durable when this resolves, with the runs its
   * triggers start; an id already in the log publishes nothing and answers with that event.
   */
  async publish(
    topic: string,
    data: unknown,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    this.assertOpen();
    const result = await publishEvent(
      this.store,
      this.triggers,
      this.clock.now(),
      this.nodeId,
      topic,
      data,
      options,
    );
    if (result.created) {
      for (const runId of result.createdRuns) void this.runs.activate(runId);
      this.onUserEvents([result.event]);
    }
    return result;
  }

  workflowCounts(): ReturnType<RunReads["workflowCounts"]> {
    return this.reads.workflowCounts();
  }

  /** Every registered service with its transport, queue depth, workers and recent outcomes. */
  services(): Promise<ServiceInfo[]> {
    return this.reads.services();
  }

  // ─── The worker side of the queue (docs/workers.md) ─────────────────────────────────

  /** Leases up to `max` tasks of a queue-served service; waits up to `waitMs` for one. */
  pollTasks(service: string, request: PollRequest): Promise<Task[]> {
    this.assertOpen();
    const transport = this.transports.get(service);
    // Its relay inside Baton takes these tasks (taskPort); a worker polling too would take
    // commands that then never reach the broker.
    if (transport?.kind === "queue" && transport.via !== undefined) {
      return Promise.reject(
        new NotFoundError(
          "SERVICE_NOT_FOUND",
          `service ${service} is reached through RabbitMQ: its commands are not polled from Baton`,
          { service },
        ),
      );
    }
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

  /** Subscribes to run events; returns the unsubscribe function. */
  on(listener: (event: BatonEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops taking work, lets executing steps finish (up to the close timeout), commits, stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rescanTimer?.cancel();
    await this.schedules.stop();
    this.scheduler.stop();
    await this.sweeper.close();
    await this.tasks.close();
    await this.sharedView?.stop();
    await this.cluster?.leave();
    // Wall time on purpose: shutting down is about this process, not about runs' time.
    const deadline = Date.now() + this.closeTimeoutMs;
    while (Date.now() < deadline && [...this.runs.values()].some((run) => run.executing > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await this.runs.loadsSettled();
    await this.committer.idle();
    this.runs.dropAll();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Number of runs held in memory (the rest wait in the store). */
  get residentRuns(): number {
    return this.runs.size;
  }

  // ─── ExecutionHost ───────────────────────────────────────────────────────────────────

  findWorkflow(name: string): WorkflowDefinition | undefined {
    return this.workflows.get(name);
  }

  retentionOf(workflow: string): number {
    return retentionOf(this.workflows.get(workflow), this.retentionMs);
  }

  onRunExpires(deleteAfter: number): void {
    this.sweeper.note(deleteAfter);
  }

  /** Rows deleted by retention since this engine started, by table. */
  get retentionDeleted(): ReadonlyMap<string, number> {
    return this.sweeper.deleted;
  }

  /** Deletes every run past its retention now, in batches (tests, operators). */
  sweepExpiredRuns(): Promise<void> {
    return this.sweeper.sweepNow();
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

  onTasksWithdrawn(): void {
    // A task a worker holds expires at its lease's end if no reply comes: look then.
    this.tasks.noteExpiry();
  }

  recordCall(service: string, ok: boolean, latencyMs: number): void {
    this.stats.record(service, ok, latencyMs);
  }

  trackCall(service: string, delta: number): void {
    this.stats.trackInFlight(service, delta);
  }

  onTerminal(hosted: { runId: string }): void {
    const run = this.runs.get(hosted.runId);
    if (!run?.terminal) return;
    this.runs.remove(run.runId);
    const info = run.terminal;
    this.endWaiters.resolve(run.runId, info);
    const record = run.recordRef;
    if (record.parentRunId) {
      const parentRunId = record.parentRunId;
      // The parent's wake-up is durable with the child's end: a failure here only delays it.
      this.store
        .findRun(run.runId)
        .then((child) => {
          if (child)
            return this.runs.withExecution(parentRunId, (parent) => parent.onChildDone(child));
        })
        .catch((e: unknown) =>
          this.logger.warn({ runId: run.runId, err: e }, "could not tell the parent run"),
        );
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
    this.runs.noteIdle(hosted.runId);
  }

  onChildrenCreated(_parent: { runId: string }, childRunIds: string[]): void {
    for (const runId of childRunIds) void this.runs.activate(runId);
  }

  onLost(hosted: { runId: string }, reason: unknown): void {
    const runId = hosted.runId;
    this.runs.remove(runId);
    this.logger.warn({ runId, err: reason }, "run dropped from memory; resuming it from the store");
    if (!this.closed) this.clock.setTimer(LOST_RUN_RESUME_MS, () => void this.runs.activate(runId));
  }

  onContinued(hosted: { runId: string }, generation: number): void {
    const run = this.runs.get(hosted.runId);
    if (!run) return;
    this.runs.remove(run.runId);
    if (this.listeners.size > 0)
      this.emit({
        type: EventType.RunContinued,
        runId: run.runId,
        workflow: run.workflow,
        status: RunStatus.Running,
        at: iso(this.clock.now()),
        data: { generation },
      });
    // The next generation is durable: load it as any run is resumed (its fresh journal, its input).
    void this.runs.activate(run.runId);
  }

  onReplayPoint(hosted: { runId: string }): void {
    const run = this.runs.get(hosted.runId);
    if (!run) return;
    this.runs.evict(run);
    void this.runs.activate(run.runId);
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

  triggerRuns(event: TriggerEvent, encodedData: string | null): NewRun[] {
    return this.triggers.runsFor(event, encodedData, this.clock.now(), this.nodeId);
  }

  onUserEvents(events: BatonEvent[]): void {
    for (const event of events) {
      if (this.listeners.size > 0) this.emit(event);
      // Runs here waiting for the topic look at the log now; those not in memory were marked due
      // with the event (another node hears of them through the store's notification).
      for (const run of this.runs.values()) run.onEventPublished(event.type);
    }
    if (!this.cluster) this.scheduler.note(this.clock.now());
  }

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  holdsLease(): boolean {
    return this.cluster ? this.cluster.holdsLease() : true;
  }

  /**
   * What the run waits on, from the run in memory when it is here (its row lags one commit behind
   * what a read already shows), else from its row.
   */
  private failedCompensationOf(record: RunRecord): number | undefined {
    const live = this.runs.get(record.runId);
    if (live && !live.replaying && !live.terminal) {
      const now = live.snapshot();
      return failedCompensationIn(now.status, now.waitingOn);
    }
    return failedCompensationIn(record.status, record.waitingOn);
  }

  private getRecord(runId: string): Promise<RunRecord> {
    return this.reads.getRecord(runId);
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
function failedCompensationIn(
  status: RunStatus,
  waiting: WaitingOn | null | undefined,
): number | undefined {
  if (status !== RunStatus.Compensating || !waiting) return undefined;
  if (waiting.kind !== "operator" && waiting.kind !== "retry") return undefined;
  return waiting.compensates;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
