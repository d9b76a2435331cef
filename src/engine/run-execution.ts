import {
  BatonError,
  EventType,
  LeaseLostError,
  isTerminal,
  NonDeterminismError,
  RunStatus,
  TransientError,
  decodeJson,
  findNonJson,
  fromErrorData,
  idempotencyKey,
  toBatonError,
  type ErrorData,
  type Logger,
  type OpKind,
  type TimerHandle,
  type WaitingOn,
} from "../common/index.js";
import type {
  EventRecord,
  JournalEntry,
  NewRun,
  NewTask,
  RunRecord,
  TaskRecord,
  SignalRecord,
  WriteOp,
  WriteResult,
} from "../store/index.js";
import type { WorkflowDefinition } from "./definitions.js";
import type { ExecutionHost } from "./host.js";
import {
  Entry,
  ReplayIndex,
  describeOp,
  opEntryType,
  type Delivery,
  type OpEntryData,
  type OpEvent,
  type RecordedOp,
} from "./journal.js";
import { backoffMs, isRetryable, type ResolvedRetryPolicy } from "./retry.js";
import { RunContext } from "./run-context.js";
import { onTaskUpdate } from "./queued-call.js";
import type { QueuedCall } from "./queued-call.js";

type Phase = "running" | "compensating" | "cancelling";

/** What an unsettled operation waits on, for the run's status and `waitingOn`. */
interface Wait {
  kind: "timer" | "signal" | "child" | "retry" | "task";
  until?: number;
  attempt?: number;
  lastError?: ErrorData;
  service?: string;
}

/** One ctx operation of the run. */
export interface Op {
  seq: number;
  kind: OpKind;
  name: string;
  recorded: RecordedOp | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  completion?: { event: string; data: OpEntryData };
  /** A completion is recorded; nothing else may complete it. */
  settled: boolean;
  /** The run moved on to compensation or cancel; this operation's result no longer matters. */
  abandoned: boolean;
  executing: boolean;
  wait?: Wait | undefined;
  timer?: TimerHandle | undefined;
  attempt: number;
  compensate?: (output: unknown) => Promise<unknown>;
  compensates?: number;
  signalName?: string;
  childRunId?: string;
  /** Starts the live work of an operation that the journal does not finish. */
  goLive?: () => void;
  /** Calls to queue-served services: the task's key and how to retry it. */
  taskKey?: string;
  queued?: QueuedCall;
  failedSinceRetry?: number;
}

interface Compensation {
  seq: number;
  kind: OpKind;
  name: string;
  output: unknown;
  fn: (output: unknown) => Promise<unknown>;
}

interface Terminal {
  status: RunStatus;
  output?: unknown;
  error?: ErrorData;
}

type QueuedDelivery = Delivery & { replay: boolean };

/**
 * One run in memory: executes the workflow function, journals every ctx operation, replays
 * the journal after a restart. Completions reach the workflow one at a time, each followed by
 * a full drain of the microtask queue, live and on replay alike — so `Promise.all` and
 * `Promise.race` over ctx operations see the same order both ways.
 *
 * Results reach the workflow as soon as they are known, before they are committed; nothing
 * that depends on them leaves the engine before they are: a step or call starts only once
 * every entry before it is durable, and a run's end is announced only once it is durable.
 */
export class RunExecution {
  readonly runId: string;
  readonly workflow: string;
  readonly ctx: RunContext;
  private readonly index: ReplayIndex;
  private readonly ops = new Map<number, Op>();
  private readonly queue: QueuedDelivery[] = [];
  private readonly compensations: Compensation[] = [];
  private readonly signals: SignalRecord[];
  private readonly errorSeqs = new WeakMap<object, number>();
  private logger: Logger | undefined;
  private nextSeq = 1;
  private pumping = false;
  private replayRemaining: number;
  replaying = true;
  halted = false;
  private phase: Phase = "running";
  private failure: { error: BatonError; causeSeq: number | undefined } | undefined;
  private cancelRequest: string | undefined;
  private currentCompensation: number | undefined;
  private deferred: Op[] = [];
  terminal: Terminal | undefined;
  executing = 0;

  // Journal writing: entries get positions as they are appended; committedLength is durable.
  private length: number;
  private committedLength: number;
  private pending: JournalEntry[] = [];
  private pendingSignals: Array<{ signalId: number; seq: number }> = [];
  private pendingChildren: NewRun[] = [];
  private pendingEvents: EventRecord[] = [];
  private pendingTasks: NewTask[] = [];
  private pendingRequeues: Array<{ taskKey: string; visibleAt: number }> = [];
  private requeuedServices: string[] = [];
  private pendingWithdrawals: string[] = [];
  private inFlight:
    | {
        entries: JournalEntry[];
        children: string[];
        terminal: boolean;
        snapshot: Snapshot;
        queuedServices: string[];
      }
    | undefined;
  private lastWritten: Snapshot;
  private durableWaiters: Array<{ position: number; resolve: (ok: boolean) => void }> = [];
  private readonly epochValue: number;

  constructor(
    private readonly host: ExecutionHost,
    private readonly record: RunRecord,
    private readonly definition: WorkflowDefinition,
    journal: readonly JournalEntry[],
    signals: SignalRecord[],
  ) {
    this.runId = record.runId;
    this.workflow = record.workflow;
    this.epochValue = record.epoch;
    this.index = new ReplayIndex(journal);
    this.length = Math.max(this.index.length, record.journalLength);
    this.committedLength = this.length;
    this.signals = signals;
    this.cancelRequest = this.index.cancelRequested;
    this.replayRemaining = this.index.deliveries.length;
    for (const d of this.index.deliveries) this.queue.push({ ...d, replay: true });
    this.lastWritten = {
      status: record.status,
      wakeAt: record.wakeAt,
      waitingOn: record.waitingOn,
    };
    this.ctx = new RunContext(this, () => this.log);
  }

  /** The run's logger, made on first use: most runs never log. */
  private get log(): Logger {
    return (this.logger ??= this.host.logger.child({ runId: this.runId, workflow: this.workflow }));
  }

  // ─── Running the workflow ────────────────────────────────────────────────────────────

  start(input: unknown): void {
    this.pumping = true;
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.definition.fn(this.ctx, input));
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (output) => this.onWorkflowReturned(output),
      (error: unknown) => this.onWorkflowThrew(error),
    );
    setImmediate(this.afterDrain);
  }

  /** Whether ctx.log should print: not while replaying what was already logged once. */
  get isReplaying(): boolean {
    return this.replaying;
  }

  private enqueue(delivery: QueuedDelivery): void {
    this.queue.push(delivery);
    if (!this.pumping) this.pumpOne();
  }

  private pumpOne(): void {
    const delivery = this.queue.shift();
    if (!delivery) {
      this.pumping = false;
      this.onQuiescent();
      return;
    }
    this.pumping = true;
    if (delivery.replay) this.replayRemaining--;
    this.apply(delivery);
    // Let the workflow react fully to this delivery before the next one.
    setImmediate(this.afterDrain);
  }

  private readonly afterDrain = (): void => {
    if (this.halted) return;
    this.pumpOne();
  };

  private apply(delivery: QueuedDelivery): void {
    if (delivery.type === "phase") {
      this.enterPhase(delivery.phase, delivery.data);
      return;
    }
    const op = this.ops.get(delivery.seq);
    if (!op) {
      const recorded = this.index.ops.get(delivery.seq);
      this.park(
        new NonDeterminismError(
          `run ${this.runId}, seq ${delivery.seq}: journal has ${describeOp(recorded?.kind ?? "?", recorded?.name ?? "?")}, ` +
            `but the code did not ask for it (it asked for ${this.nextSeq - 1} operations)`,
          { seq: delivery.seq, journal: recorded && { kind: recorded.kind, name: recorded.name } },
        ),
      );
      return;
    }
    const completion = op.completion ?? op.recorded?.completion;
    if (!completion || op.abandoned) return;
    op.settled = true;
    op.wait = undefined;
    // Delivered once, never again: only unsettled operations stay in the map.
    this.ops.delete(op.seq);
    if (completion.event === "failed") {
      op.reject(this.opError(op, completion.data.error));
    } else {
      const value = completion.data.output;
      if (op.compensate && this.phase === "running") {
        this.compensations.push({
          seq: op.seq,
          kind: op.kind,
          name: op.name,
          output: value,
          fn: op.compensate,
        });
      }
      op.resolve(value);
    }
  }

  private opError(op: Op, data: ErrorData | undefined): BatonError {
    const code = data?.code ?? "STEP_FAILED";
    const message = data?.message ?? "failed";
    const error = new BatonError(
      code,
      `${describeOp(op.kind, op.name)} (seq ${op.seq}) failed: ${message}`,
      {
        details: { seq: op.seq, kind: op.kind, name: op.name, ...(asObject(data?.details) ?? {}) },
      },
    );
    this.errorSeqs.set(error, op.seq);
    return error;
  }

  private seqOf(error: unknown): number | undefined {
    for (
      let e: unknown = error, depth = 0;
      typeof e === "object" && e !== null && depth < 8;
      depth++
    ) {
      const seq = this.errorSeqs.get(e);
      if (seq !== undefined) return seq;
      e = (e as { cause?: unknown }).cause;
    }
    return undefined;
  }

  private onWorkflowReturned(output: unknown): void {
    if (this.halted || this.terminal || this.phase !== "running") return;
    if (this.replayRemaining > 0) {
      const next = this.queue.find((d) => d.replay && d.type === "op");
      const recorded = next?.type === "op" ? this.index.ops.get(next.seq) : undefined;
      this.park(
        new NonDeterminismError(
          `run ${this.runId}: the code returned, but the journal has more` +
            (recorded && next?.type === "op"
              ? `: ${describeOp(recorded.kind, recorded.name)} at seq ${next.seq}`
              : ""),
        ),
      );
      return;
    }
    const problem = findNonJson(output, "output");
    if (problem && output !== undefined) {
      this.onWorkflowThrew(
        new BatonError(
          "OUTPUT_NOT_JSON",
          `workflow ${this.workflow} returned a value that is not JSON: ${problem}`,
        ),
      );
      return;
    }
    this.finish({ status: RunStatus.Completed, output }, undefined);
  }

  private onWorkflowThrew(thrown: unknown): void {
    if (this.halted || this.terminal || this.phase !== "running" || this.failure) return;
    this.failure = { error: toBatonError(thrown), causeSeq: this.seqOf(thrown) };
    if (!this.pumping) this.onQuiescent();
  }

  /** The workflow has reacted to everything delivered so far. */
  private onQuiescent(): void {
    if (this.halted) return;
    if (this.replaying && this.replayRemaining === 0) this.endReplay();
    if (this.replaying) return;
    this.advancePhase();
    if (!this.terminal && !sameSnapshot(this.snapshot(), this.lastWritten)) this.requestWrite();
    if (this.isIdle()) this.host.onIdle(this);
  }

  private endReplay(): void {
    this.replaying = false;
    const deferred = this.deferred;
    this.deferred = [];
    for (const op of deferred) if (!op.abandoned && !op.settled) op.goLive?.();
    this.requestWrite();
  }

  /** Turns a failure or a cancel request into a phase marker, once nothing is executing. */
  private advancePhase(): void {
    if (this.terminal || this.phase !== "running" || this.executing > 0) return;
    if (this.failure) {
      const { error, causeSeq } = this.failure;
      if (this.compensations.length === 0) {
        this.finish({ status: RunStatus.Failed, error: error.toJSON() }, causeSeq);
        return;
      }
      const data = { error: error.toJSON(), ...(causeSeq === undefined ? {} : { causeSeq }) };
      this.appendRun(Entry.RunCompensating, data);
      this.enqueue({ type: "phase", phase: "compensating", data, replay: false });
    } else if (this.cancelRequest !== undefined) {
      const data = { reason: this.cancelRequest };
      this.appendRun(Entry.RunCancelling, data);
      this.enqueue({ type: "phase", phase: "cancelling", data, replay: false });
    }
  }

  private enterPhase(
    phase: "compensating" | "cancelling",
    data: { error?: ErrorData; reason?: string },
  ): void {
    this.phase = phase;
    for (const op of this.ops.values()) {
      if (op.settled) continue;
      op.abandoned = true;
      op.timer?.cancel();
      op.wait = undefined;
      if (op.kind === "child" && op.childRunId)
        this.host.cancelRun(op.childRunId, `parent run ${this.runId} is ${phase}`);
      // A command still queued is withdrawn (CONTRACT §5); one a worker holds may still finish.
      if (op.taskKey) this.pendingWithdrawals.push(op.taskKey);
      this.ops.delete(op.seq);
    }
    void this.runCompensations(phase, data);
  }

  private async runCompensations(
    phase: "compensating" | "cancelling",
    data: { error?: ErrorData; reason?: string },
  ): Promise<void> {
    const original: ErrorData =
      phase === "cancelling"
        ? { code: "CANCELLED", message: data.reason ?? "cancelled" }
        : (data.error ?? { code: "STEP_FAILED", message: "the workflow failed" });
    for (const compensation of [...this.compensations].reverse()) {
      this.currentCompensation = compensation.seq;
      if (!this.replaying) this.host.fault("during-compensation", this.runId);
      try {
        await compensation.fn(compensation.output);
      } catch (e) {
        if (this.halted || this.terminal) return;
        const cause = toBatonError(e);
        const what = `${describeOp(compensation.kind, compensation.name)} (seq ${compensation.seq})`;
        this.finish(
          {
            status: RunStatus.Failed,
            error: {
              code: "COMPENSATION_FAILED",
              message: `compensation of ${what} failed for good: ${cause.message}`,
              details: { compensates: compensation.seq, cause: cause.toJSON(), original },
            },
          },
          this.seqOf(e),
        );
        return;
      }
    }
    this.currentCompensation = undefined;
    if (this.halted || this.terminal) return;
    this.finish(
      {
        status: phase === "cancelling" ? RunStatus.Cancelled : RunStatus.Compensated,
        error: original,
      },
      undefined,
    );
  }

  private finish(terminal: Terminal, causeSeq: number | undefined): void {
    if (this.terminal) return;
    this.terminal = terminal;
    // A compensated or cancelled run is business as usual; a failed one needs an operator.
    if (terminal.status === RunStatus.Failed) {
      this.log.warn({ status: terminal.status, err: terminal.error }, "run failed");
    } else if (terminal.error) {
      this.log.info({ status: terminal.status, err: terminal.error }, `run ${terminal.status}`);
    } else {
      this.log.debug({ status: terminal.status }, `run ${terminal.status}`);
    }
    for (const op of this.ops.values()) op.timer?.cancel();
    const type =
      terminal.status === RunStatus.Completed
        ? Entry.RunCompleted
        : terminal.status === RunStatus.Compensated
          ? Entry.RunCompensated
          : terminal.status === RunStatus.Cancelled
            ? Entry.RunCancelled
            : Entry.RunFailed;
    this.appendRun(type, {
      ...(terminal.output === undefined ? {} : { output: terminal.output }),
      ...(terminal.error ? { error: terminal.error } : {}),
      ...(causeSeq === undefined ? {} : { causeSeq }),
    });
    const eventType =
      terminal.status === RunStatus.Completed
        ? EventType.RunCompleted
        : terminal.status === RunStatus.Cancelled
          ? EventType.RunCancelled
          : EventType.RunFailed;
    this.pendingEvents.push({
      type: eventType,
      runId: this.runId,
      workflow: this.workflow,
      status: terminal.status,
      data: JSON.stringify(terminal.error ? { error: terminal.error } : {}),
      at: this.host.clock.now(),
    });
    this.requestWrite();
  }

  /**
   * Non-determinism: the code no longer matches the journal. Nothing of this session is
   * written to the journal but the failure itself; after a fix, `retry` replays the run.
   */
  park(error: NonDeterminismError): void {
    if (this.halted || this.terminal) return;
    this.log.error({ err: error.toJSON() }, "run parked: workflow code does not match its journal");
    this.pending = [];
    this.pendingSignals = [];
    this.pendingChildren = [];
    this.pendingTasks = [];
    this.pendingRequeues = [];
    this.length = this.committedLength;
    for (const op of this.ops.values()) op.timer?.cancel();
    this.replaying = false;
    this.phase = "compensating"; // never run more workflow code in this session
    this.finish({ status: RunStatus.Failed, error: error.toJSON() }, undefined);
  }

  // ─── Operations (called by RunContext) ───────────────────────────────────────────────

  /**
   * Registers the next operation. If the journal already has it, checks that it is the same
   * operation; returns undefined (and parks the run) if it is not.
   */
  newOp(kind: OpKind, name: string): { op: Op; promise: Promise<unknown> } | undefined {
    const seq = this.nextSeq++;
    const recorded = this.index.ops.get(seq);
    if (recorded && (recorded.kind !== kind || recorded.name !== name)) {
      this.park(
        new NonDeterminismError(
          `run ${this.runId}, seq ${seq}: journal has ${describeOp(recorded.kind, recorded.name)}, code asked for ${describeOp(kind, name)}`,
          { seq, journal: { kind: recorded.kind, name: recorded.name }, code: { kind, name } },
        ),
      );
      return undefined;
    }
    let resolve!: (value: unknown) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const op: Op = {
      seq,
      kind,
      name,
      recorded,
      resolve,
      reject,
      settled: false,
      abandoned: false,
      executing: false,
      attempt: 0,
    };
    if (this.currentCompensation !== undefined) op.compensates = this.currentCompensation;
    this.ops.set(seq, op);
    return { op, promise };
  }

  /** Runs `goLive` now, or once replay is over; never for an operation that is already done. */
  schedule(op: Op, goLive: () => void): void {
    if (op.recorded?.completion) return;
    // Once the run fails or is cancelled, the workflow's new operations never start.
    if (op.compensates === undefined && (this.phase !== "running" || this.stopping)) return;
    if (this.replaying) {
      op.goLive = goLive;
      this.deferred.push(op);
    } else {
      goLive();
    }
  }

  get stopping(): boolean {
    return (
      this.halted ||
      this.terminal !== undefined ||
      (this.phase === "running" && (this.failure !== undefined || this.cancelRequest !== undefined))
    );
  }

  /** Records a live completion and delivers it. */
  complete(op: Op, event: OpEvent, data: OpEntryData): void {
    if (op.settled || op.abandoned || this.halted || this.terminal) return;
    op.settled = true;
    op.timer?.cancel();
    op.wait = undefined;
    const full = op.compensates === undefined ? data : { ...data, compensates: op.compensates };
    op.completion = { event, data: full };
    this.appendOp(op, event, full);
    this.enqueue({ type: "op", seq: op.seq, replay: false });
  }

  appendOp(op: Op, event: OpEvent, data: OpEntryData | undefined): void {
    const full =
      op.compensates !== undefined && data && data.compensates === undefined
        ? { ...data, compensates: op.compensates }
        : data;
    this.append(op.seq, opEntryType(op.kind, event), op.name, full);
  }

  private appendRun(type: string, data: unknown): void {
    this.append(null, type, null, data);
  }

  private append(seq: number | null, type: string, name: string | null, data: unknown): void {
    this.pending.push({
      position: this.length++,
      seq,
      type,
      name,
      data: data === undefined ? null : JSON.stringify(data),
      at: this.host.clock.now(),
    });
    this.requestWrite();
  }

  /** Resolves true once every entry appended so far is durable; false if the run stopped here. */
  durable(): Promise<boolean> {
    if (this.halted) return Promise.resolve(false);
    if (this.committedLength >= this.length) return Promise.resolve(true);
    return new Promise((resolve) => this.durableWaiters.push({ position: this.length, resolve }));
  }

  /** Runs a step's or call's attempts under its retry policy, then completes the operation. */
  async runAttempts(
    op: Op,
    policy: ResolvedRetryPolicy,
    timeoutMs: number | undefined,
    body: (attempt: number, abort: AttemptAbort) => unknown,
  ): Promise<void> {
    let attempt = (op.recorded?.failedAttemptsSinceRetry ?? 0) + 1;
    let attempts = op.recorded?.failedAttempts ?? 0;
    const resumeAt = op.recorded?.lastRetryAt;
    if (
      attempt > 1 &&
      resumeAt !== undefined &&
      !(await this.waitUntil(op, resumeAt, { kind: "retry", attempt }))
    )
      return;
    for (;;) {
      if (this.committedLength < this.length && !(await this.durable())) return;
      if (op.abandoned || this.halted || op.settled) return;
      // A node whose lease ran out may no longer own this run: it must not act for it.
      if (!this.host.holdsLease()) {
        this.onCommitFailed(
          new LeaseLostError(
            `run ${this.runId}: this node's lease lapsed before ${op.name} could run`,
          ),
        );
        return;
      }
      op.executing = true;
      op.attempt = attempts + 1;
      this.executing++;
      // Back from a retry wait: the row must stop saying the run waits (and when to wake it).
      if (attempt > 1 && !this.inFlight && !sameSnapshot(this.snapshot(), this.lastWritten))
        this.requestWrite();
      const startedAt = this.host.clock.now();
      let output: unknown;
      let error: BatonError | undefined;
      try {
        output = await this.attempt(op, attempt, timeoutMs, body);
      } catch (e) {
        error = toBatonError(e);
      }
      op.executing = false;
      this.executing--;
      if (this.halted) return;
      attempts++;
      if (!error) {
        const problem = findNonJson(output, "output");
        if (!problem || output === undefined) {
          this.complete(
            op,
            "completed",
            output === undefined ? { attempts, startedAt } : { output, attempts, startedAt },
          );
          if (this.executing === 0 && !this.pumping) this.onQuiescent();
          return;
        }
        error = new BatonError("OUTPUT_NOT_JSON", `returned a value that is not JSON: ${problem}`);
      }
      if (
        isRetryable(error, policy) &&
        attempt < policy.maxAttempts &&
        !op.abandoned &&
        !this.stopping
      ) {
        const retryAfterMs = error instanceof TransientError ? error.retryAfterMs : undefined;
        const retryAt =
          this.host.clock.now() + backoffMs(policy, attempt, Math.random(), retryAfterMs);
        const errorData = error.toJSON();
        this.appendOp(op, "attempt_failed", { attempt: attempts, error: errorData, retryAt });
        this.log.info(
          {
            seq: op.seq,
            step: op.name,
            attempt: attempts,
            err: errorData,
            retryInMs: retryAt - this.host.clock.now(),
          },
          `${describeOp(op.kind, op.name)} failed; retrying`,
        );
        if (this.executing === 0 && !this.pumping) this.onQuiescent();
        if (
          !(await this.waitUntil(op, retryAt, {
            kind: "retry",
            attempt: attempts + 1,
            lastError: errorData,
          }))
        )
          return;
        attempt++;
        continue;
      }
      this.log.info(
        { seq: op.seq, step: op.name, attempts, err: error.toJSON() },
        `${describeOp(op.kind, op.name)} failed for good`,
      );
      this.complete(op, "failed", { error: error.toJSON(), attempts, startedAt });
      if (this.executing === 0 && !this.pumping) this.onQuiescent();
      return;
    }
  }

  private attempt(
    op: Op,
    attempt: number,
    timeoutMs: number | undefined,
    body: (attempt: number, abort: AttemptAbort) => unknown,
  ): Promise<unknown> {
    const controller = new AttemptAbort();
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(body(attempt, controller));
    } catch (e) {
      return Promise.reject(e);
    }
    if (timeoutMs === undefined || timeoutMs <= 0) return result;
    return new Promise((resolve, reject) => {
      const timer = this.host.clock.setTimer(timeoutMs, () => {
        controller.abort();
        reject(
          new TransientError(`${describeOp(op.kind, op.name)} timed out after ${timeoutMs} ms`, {
            code: "STEP_TIMEOUT",
          }),
        );
      });
      result.then(
        (value) => {
          timer.cancel();
          resolve(value);
        },
        (error: unknown) => {
          timer.cancel();
          reject(error);
        },
      );
    });
  }

  /** Waits until `at` on the clock; false if the operation or the run stopped meanwhile. */
  waitUntil(op: Op, at: number, wait: Wait): Promise<boolean> {
    op.wait = { ...wait, until: at };
    return new Promise((resolve) => {
      const timer = this.host.clock.setTimer(at - this.host.clock.now(), () => {
        op.timer = undefined;
        op.wait = undefined;
        resolve(!op.abandoned && !this.halted);
      });
      // Cancelling (halt, abandon, the run's end) settles the wait too: the retry loop stops.
      op.timer = {
        cancel: () => {
          timer.cancel();
          resolve(false);
        },
      };
    });
  }

  /** Arms a durable timer's in-memory twin; the journal already holds its fire time. */
  armTimer(op: Op, fireAt: number, wait: Wait, onFire: () => void): void {
    op.wait = { ...wait, until: fireAt };
    op.timer = this.host.clock.setTimer(fireAt - this.host.clock.now(), () => {
      op.timer = undefined;
      if (!op.abandoned && !this.halted) onFire();
    });
  }

  // ─── Signals and children ────────────────────────────────────────────────────────────

  /** A signal arrived (already durable). Kept until a wait for its name consumes it. */
  receiveSignal(signal: SignalRecord): void {
    if (this.signals.some((s) => s.signalId === signal.signalId)) return;
    this.signals.push(signal);
    if (this.replaying) return;
    for (const op of this.ops.values()) {
      if (
        op.kind === "signal" &&
        op.signalName === signal.name &&
        !op.settled &&
        !op.abandoned &&
        op.wait
      ) {
        this.consumeSignal(op);
        return;
      }
    }
  }

  /** Completes a signal wait with the oldest kept signal of its name; false if there is none. */
  consumeSignal(op: Op): boolean {
    const index = this.signals.findIndex((s) => s.name === op.signalName);
    const signal = this.signals[index];
    if (!signal) return false;
    this.signals.splice(index, 1);
    this.pendingSignals.push({ signalId: signal.signalId, seq: op.seq });
    this.complete(op, "received", {
      output: decodeJson(signal.payload),
      signalId: signal.signalId,
    });
    return true;
  }

  addChild(run: NewRun): void {
    this.pendingChildren.push(run);
  }

  enqueueTask(task: NewTask): void {
    this.pendingTasks.push(task);
    this.requestWrite();
  }

  requeueTask(op: Op, taskKey: string, visibleAt: number): void {
    op.wait = { kind: "task", ...(op.queued ? { service: op.queued.service } : {}) };
    this.pendingRequeues.push({ taskKey, visibleAt });
    if (op.queued) this.requeuedServices.push(op.queued.service);
    this.requestWrite();
  }

  /** A worker replied to one of this run's tasks (the reply is durable in the task row). */
  onTaskSettled(task: TaskRecord): void {
    if (this.replaying) return; // the deferred resume reads the task row itself
    const op = this.ops.get(task.seq);
    if (op?.taskKey === task.taskKey) onTaskUpdate(this, op, task);
  }

  recordCall(service: string, ok: boolean, latencyMs: number): void {
    this.host.recordCall(service, ok, latencyMs);
  }

  /** A child run ended (its end is durable). */
  onChildDone(child: RunRecord): void {
    for (const op of this.ops.values()) {
      if (op.kind === "child" && op.childRunId === child.runId) this.completeChild(op, child);
    }
  }

  completeChild(op: Op, child: RunRecord): void {
    if (op.settled || op.abandoned) return;
    if (child.status === RunStatus.Completed) {
      this.complete(op, "completed", { output: decodeJson(child.output) });
    } else if (
      child.status === RunStatus.Failed ||
      child.status === RunStatus.Compensated ||
      child.status === RunStatus.Cancelled
    ) {
      const error = child.error ?? { code: "RUN_FAILED", message: "failed" };
      this.complete(op, "failed", {
        error: {
          code: error.code,
          message: `child run ${child.runId} ended ${child.status}: ${error.message}`,
          details: { childRunId: child.runId, status: child.status },
        },
      });
    }
  }

  // ─── Cancel, halt ────────────────────────────────────────────────────────────────────

  /** Records the request durably; the run compensates once nothing is executing. */
  requestCancel(reason: string): void {
    if (
      this.terminal ||
      this.halted ||
      this.phase !== "running" ||
      this.cancelRequest !== undefined
    )
      return;
    this.cancelRequest = reason;
    this.appendRun(Entry.RunCancelRequested, { reason });
    if (!this.pumping) this.onQuiescent();
  }

  /** Stops everything in memory; the store keeps what was committed. */
  halt(): void {
    if (this.halted) return;
    this.halted = true;
    for (const op of this.ops.values()) op.timer?.cancel();
    for (const waiter of this.durableWaiters) waiter.resolve(false);
    this.durableWaiters = [];
  }

  // ─── Writing (called by the group committer) ─────────────────────────────────────────

  private requestWrite(): void {
    if (!this.replaying && !this.halted && !this.inFlight) this.host.committer.markDirty(this);
  }

  takeWrite(): WriteOp | undefined {
    if (this.halted || this.replaying || this.inFlight) return undefined;
    const snapshot = this.snapshot();
    if (
      this.pending.length === 0 &&
      this.pendingChildren.length === 0 &&
      this.pendingRequeues.length === 0 &&
      this.pendingWithdrawals.length === 0 &&
      sameSnapshot(snapshot, this.lastWritten)
    ) {
      return undefined;
    }
    const entries = this.pending;
    const children = this.pendingChildren;
    const consumed = this.pendingSignals;
    const events = this.pendingEvents;
    const tasks = this.pendingTasks;
    const requeues = this.pendingRequeues;
    const withdrawals = this.pendingWithdrawals;
    this.pending = [];
    this.pendingChildren = [];
    this.pendingSignals = [];
    this.pendingEvents = [];
    this.pendingTasks = [];
    this.pendingRequeues = [];
    this.pendingWithdrawals = [];
    const terminal = this.terminal;
    const queuedServices = [...new Set([...tasks.map((t) => t.service), ...this.requeuedServices])];
    this.requeuedServices = [];
    this.inFlight = {
      entries,
      children: children.map((c) => c.runId),
      terminal: terminal !== undefined,
      snapshot,
      queuedServices,
    };
    return {
      type: "appendRun",
      runId: this.runId,
      epoch: this.epochValue,
      expectedLength: this.committedLength,
      entries,
      update: {
        status: snapshot.status,
        updatedAt: this.host.clock.now(),
        wakeAt: snapshot.wakeAt,
        waitingOn: snapshot.waitingOn,
        ...(terminal
          ? {
              output: terminal.output === undefined ? null : JSON.stringify(terminal.output),
              error: terminal.error ?? null,
            }
          : {}),
      },
      ...(consumed.length ? { consumedSignals: consumed } : {}),
      ...(children.length ? { createRuns: children } : {}),
      ...(terminal && this.record.parentRunId ? { wakeRuns: [this.record.parentRunId] } : {}),
      ...(events.length ? { events } : {}),
      ...(tasks.length ? { enqueueTasks: tasks } : {}),
      ...(requeues.length ? { requeueTasks: requeues } : {}),
      ...(withdrawals.length ? { withdrawTasks: withdrawals } : {}),
    };
  }

  onCommitted(result: WriteResult): void {
    const written = this.inFlight;
    this.inFlight = undefined;
    if (!written || this.halted) return;
    if (!result.ok) {
      this.onCommitFailed(fromErrorData(result.error));
      return;
    }
    this.committedLength += written.entries.length;
    this.host.fault("after-journal-commit", this.runId);
    if (written.entries.some((e) => e.type === "call.completed" || e.type === "call.failed")) {
      this.host.fault("after-reply-recorded", this.runId);
    }
    const changed = !sameSnapshot(this.lastWritten, written.snapshot);
    this.lastWritten = written.snapshot;
    if (changed && !written.terminal && this.host.hasListeners) {
      this.host.emit({
        type: EventType.RunUpdated,
        runId: this.runId,
        workflow: this.workflow,
        status: written.snapshot.status,
        at: new Date(this.host.clock.now()).toISOString(),
        ...(written.snapshot.waitingOn ? { data: { waitingOn: written.snapshot.waitingOn } } : {}),
      });
    }
    const ready = this.durableWaiters.filter((w) => w.position <= this.committedLength);
    if (ready.length) {
      this.durableWaiters = this.durableWaiters.filter((w) => w.position > this.committedLength);
      for (const waiter of ready) waiter.resolve(true);
    }
    this.publishCommitted(written.entries);
    if (written.queuedServices.length) this.host.onTasksQueued(written.queuedServices);
    if (written.children.length) this.host.onChildrenCreated(this, written.children);
    if (written.terminal) {
      this.halt();
      this.host.onTerminal(this);
      return;
    }
    if (
      this.pending.length ||
      this.pendingChildren.length ||
      this.pendingEvents.length ||
      this.pendingTasks.length ||
      this.pendingRequeues.length ||
      this.pendingWithdrawals.length ||
      !sameSnapshot(this.snapshot(), this.lastWritten)
    ) {
      this.requestWrite();
    }
    if (
      this.host.replayAfterEveryOp &&
      this.executing === 0 &&
      written.entries.length > 0 &&
      !this.terminal
    ) {
      this.host.onReplayPoint(this);
      return;
    }
    if (this.isIdle()) this.host.onIdle(this);
  }

  onCommitFailed(error: BatonError): void {
    this.inFlight = undefined;
    this.log.error(
      { err: error.toJSON() },
      "journal write failed; the run will resume from the store",
    );
    this.halt();
    this.host.onLost(this, error);
  }

  /** Live events for what just became durable: steps and calls, retries, compensation. */
  private publishCommitted(entries: JournalEntry[]): void {
    if (!this.host.hasListeners) return;
    for (const entry of entries) {
      const type = liveEventType(entry.type);
      if (!type) continue;
      const data =
        entry.data === null ? {} : (JSON.parse(entry.data) as OpEntryData & { error?: ErrorData });
      this.host.emit({
        type,
        runId: this.runId,
        workflow: this.workflow,
        status: this.lastWritten.status,
        at: new Date(entry.at).toISOString(),
        data: {
          ...(entry.seq === null
            ? {}
            : { seq: entry.seq, kind: entry.type.slice(0, entry.type.indexOf(".")) }),
          ...(entry.name === null ? {} : { name: entry.name }),
          ...(data.startedAt !== undefined ? { durationMs: entry.at - data.startedAt } : {}),
          ...(data.attempts !== undefined ? { attempts: data.attempts } : {}),
          ...(data.attempt !== undefined ? { attempt: data.attempt } : {}),
          ...(data.error ? { error: data.error } : {}),
          ...(data.compensates !== undefined ? { compensates: data.compensates } : {}),
        },
      });
    }
  }

  // ─── State for the status, the row and the API ───────────────────────────────────────

  private snapshot(): Snapshot {
    if (this.terminal) return { status: this.terminal.status, wakeAt: null, waitingOn: null };
    let busy = this.pumping || this.queue.length > 0;
    let first: Op | undefined;
    let wakeAt: number | null = null;
    for (const op of this.ops.values()) {
      if (op.settled || op.abandoned) continue;
      if (!op.wait) {
        if (op.kind === "step" || op.kind === "call") busy = true;
        continue;
      }
      if (!first) first = op;
      // A queued task wakes its run when a worker replies; its retry time is the queue's business.
      if (
        op.wait.kind !== "task" &&
        op.wait.until !== undefined &&
        (wakeAt === null || op.wait.until < wakeAt)
      )
        wakeAt = op.wait.until;
    }
    if (this.phase !== "running")
      return { status: RunStatus.Compensating, wakeAt, waitingOn: first ? waitingOn(first) : null };
    if (busy || !first) return { status: RunStatus.Running, wakeAt, waitingOn: null };
    return { status: RunStatus.Waiting, wakeAt, waitingOn: waitingOn(first) };
  }

  /** Waiting, with nothing in flight: safe to drop from memory. */
  isIdle(): boolean {
    return (
      !this.halted &&
      !this.terminal &&
      !this.replaying &&
      !this.pumping &&
      !this.inFlight &&
      this.pending.length === 0 &&
      this.executing === 0 &&
      this.lastWritten.status === RunStatus.Waiting
    );
  }

  /** Operations in memory that the journal does not show yet (for the Run view). */
  liveOps(): Array<{
    seq: number;
    kind: OpKind;
    name: string;
    executing: boolean;
    attempt: number;
    wait?: Wait;
  }> {
    const live = [];
    for (const op of this.ops.values()) {
      if (op.settled || op.abandoned) continue;
      live.push({
        seq: op.seq,
        kind: op.kind,
        name: op.name,
        executing: op.executing,
        attempt: op.attempt,
        ...(op.wait ? { wait: op.wait } : {}),
      });
    }
    return live;
  }

  /** The epoch this execution writes under (its fencing token). */
  get epoch(): number {
    return this.epochValue;
  }

  /**
   * Another node says this run has news (a signal, a worker's reply, a child's end): look at the
   * store for everything an unsettled operation waits on.
   */
  async refresh(): Promise<void> {
    if (this.replaying || this.halted) return;
    for (const signal of await this.host.findRunSignals(this.runId)) this.receiveSignal(signal);
    for (const op of [...this.ops.values()]) {
      if (op.settled || op.abandoned) continue;
      if (op.taskKey) {
        const task = await this.host.findTask(op.taskKey);
        if (task) this.onTaskSettled(task);
      } else if (op.kind === "child" && op.childRunId) {
        const child = await this.host.findRun(op.childRunId);
        if (child && isTerminal(child.status)) this.completeChild(op, child);
      }
    }
  }

  get recordRef(): RunRecord {
    return this.record;
  }

  /** When the run must be woken, as last written to the store. */
  get wakeAt(): number | null {
    return this.lastWritten.wakeAt;
  }

  get status(): RunStatus {
    return this.snapshot().status;
  }

  /** Builds a child's row; its id defaults to `{parentRunId}:{seq}`. */
  newChildRun(seq: number, childRunId: string, workflow: string, input: unknown): NewRun {
    const now = this.host.clock.now();
    return {
      runId: childRunId,
      workflow,
      input: input === undefined ? null : JSON.stringify(input),
      createdAt: now,
      parentRunId: this.runId,
      parentSeq: seq,
      owner: this.host.nodeId,
      firstEntry: {
        position: 0,
        seq: null,
        type: Entry.RunStarted,
        name: null,
        data: JSON.stringify({ parentRunId: this.runId, parentSeq: seq }),
        at: now,
      },
    };
  }

  /** Drops an operation that settled without a delivery (now, random, uuid). */
  forget(op: Op): void {
    this.ops.delete(op.seq);
  }

  get hostRef(): ExecutionHost {
    return this.host;
  }

  get definitionOptions(): WorkflowDefinition["options"] {
    return this.definition.options;
  }

  idempotencyKey(seq: number): string {
    return idempotencyKey(this.runId, seq);
  }
}

interface Snapshot {
  status: RunStatus;
  wakeAt: number | null;
  waitingOn: WaitingOn | null;
}

function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  return (
    a.status === b.status &&
    a.wakeAt === b.wakeAt &&
    (a.waitingOn === b.waitingOn || JSON.stringify(a.waitingOn) === JSON.stringify(b.waitingOn))
  );
}

function waitingOn(op: Op): WaitingOn {
  const wait = op.wait!;
  const until = wait.until === undefined ? undefined : new Date(wait.until).toISOString();
  switch (wait.kind) {
    case "timer":
      return {
        kind: "timer",
        seq: op.seq,
        reason: `sleeping until ${until}`,
        ...(until ? { until } : {}),
      };
    case "signal":
      return {
        kind: "signal",
        seq: op.seq,
        signal: op.signalName ?? op.name,
        reason:
          `waiting for signal "${op.signalName ?? op.name}"` + (until ? ` until ${until}` : ""),
        ...(until ? { until } : {}),
      };
    case "child":
      return {
        kind: "child",
        seq: op.seq,
        childRunId: op.childRunId ?? "",
        reason: `waiting for child run ${op.childRunId}`,
      };
    case "task":
      return {
        kind: "task",
        seq: op.seq,
        service: wait.service ?? op.name.split(".")[0] ?? "",
        ...(wait.lastError ? { lastError: wait.lastError } : {}),
        ...(until ? { until } : {}),
        reason:
          `waiting for a ${wait.service ?? "service"} worker to run ${op.name}` +
          (wait.lastError
            ? ` (last attempt failed: ${wait.lastError.message}; next not before ${until})`
            : ""),
      };
    case "retry":
      return {
        kind: "retry",
        seq: op.seq,
        step: op.name,
        ...(wait.attempt !== undefined ? { attempt: wait.attempt } : {}),
        ...(wait.lastError ? { lastError: wait.lastError } : {}),
        ...(until ? { until } : {}),
        reason:
          `${describeOp(op.kind, op.name)} failed` +
          (wait.lastError ? ` (${wait.lastError.message})` : "") +
          `; attempt ${wait.attempt ?? "?"} at ${until}`,
      };
  }
}

function liveEventType(entryType: string): EventType | undefined {
  switch (entryType) {
    case "step.completed":
    case "call.completed":
      return EventType.StepCompleted;
    case "step.failed":
    case "call.failed":
      return EventType.StepFailed;
    case "step.attempt_failed":
    case "call.attempt_failed":
      return EventType.StepRetrying;
    case Entry.RunCompensating:
      return EventType.RunCompensating;
    default:
      return undefined;
  }
}

/**
 * The abort signal of one attempt, made only if someone asks for it: most steps never look,
 * and an AbortController per attempt is a measurable cost on the hot path.
 */
export class AttemptAbort {
  private controller: AbortController | undefined;
  private isAborted = false;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.isAborted && !this.controller.signal.aborted) this.controller.abort();
    return this.controller.signal;
  }

  abort(): void {
    this.isAborted = true;
    this.controller?.abort();
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
