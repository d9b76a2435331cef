import {
  BatonError,
  NonDeterminismError,
  RunStatus,
  decodeJson,
  findNonJson,
  idempotencyKey,
  isTerminal,
  toBatonError,
  type Logger,
  type OpKind,
  type TimerHandle,
} from "../common/index.js";
import type {
  EventRecord,
  JournalEntry,
  NewRun,
  NewTask,
  RunRecord,
  SignalRecord,
  TaskRecord,
} from "../store/index.js";
import { completeChild } from "./child-run.js";
import { checkEventWait } from "./event-wait.js";
import { RunCore, type RunEffect, type RunInput } from "./core/run-core.js";
import type { WorkflowDefinition } from "./definitions.js";
import type { ExecutionHost } from "./host.js";
import {
  CANCEL_SIGNAL,
  Entry,
  RESERVED_SIGNAL_PREFIX,
  ReplayIndex,
  describeOp,
  opEntryType,
  type Delivery,
  type OpEntryData,
  type OpEvent,
} from "./journal.js";
import { OpErrors, type Op, type Wait } from "./op.js";
import { onTaskUpdate, settleQueuedCall } from "./queued-call.js";
import { RunContext } from "./run-context.js";
import { compensationEvent, terminalEvent } from "./run-events.js";
import { RunJournalWriter } from "./run-journal-writer.js";
import { RunTrace, endSpan } from "./tracing.js";
import type { RunPort } from "./run-port.js";
import {
  compensationWaitSnapshot,
  liveOps,
  liveSnapshot,
  sameSnapshot,
  type LiveOp,
  type Snapshot,
  type Terminal,
} from "./run-snapshot.js";

type QueuedDelivery = Delivery & { replay: boolean };
type RecordedOpName = { kind: OpKind; name: string };

/**
 * The driver of one run in memory: executes the workflow function, carries out what the run's
 * core (core/run-core.ts, where the rules are) decides, journals every ctx operation, replays the
 * journal after a restart. Completions reach the workflow one at a time, each followed by a full
 * drain of the microtask queue, live and on replay alike — so `Promise.all` and `Promise.race`
 * over ctx operations see the same order both ways.
 *
 * Results reach the workflow as soon as they are known, before they are committed; nothing
 * that depends on them leaves the engine before they are: a step or call starts only once
 * every entry before it is durable, and a run's end is announced only once it is durable.
 */
export class RunExecution implements RunPort {
  readonly runId: string;
  readonly workflow: string;
  readonly ctx: RunContext;
  readonly writer: RunJournalWriter;
  readonly errors = new OpErrors();
  private readonly core: RunCore;
  private readonly index: ReplayIndex;
  private readonly ops = new Map<number, Op>();
  /** Operations whose completion registered a compensation, by seq (for running it later). */
  private compensableOps: Map<number, Op> | undefined;
  private readonly queue: QueuedDelivery[] = [];
  private readonly signals: SignalRecord[];
  private consumedSignalIds: Set<number> | undefined;
  private logger: Logger | undefined;
  private nextSeq = 1;
  /** The highest seq in the journal, found on first use. */
  private lastRecordedSeq: number | undefined;
  private pumping = false;
  private replayRemaining: number;
  replaying = true;
  halted = false;
  /** Reserved signals (cancel, operator actions) that arrived while replaying. */
  private pendingReserved: SignalRecord[];
  private deferred: Op[] = [];
  terminal: Terminal | undefined;
  /** Attempts of steps and calls executing right now (counted by attempts.ts). */
  executing = 0;
  /** The seq whose compensation is running: operations it starts are marked with it. */
  private compensatingSeq: number | undefined;
  private compensationTimer: TimerHandle | undefined;
  private deadlineTimer: TimerHandle | undefined;
  private readonly epochValue: number;
  private runTrace: RunTrace | undefined;

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
    this.core = new RunCore(this.index.rollback, true);
    this.writer = new RunJournalWriter(
      this,
      host,
      record,
      Math.max(this.index.length, record.journalLength),
    );
    // Cancels and operator actions travel as reserved signals (any node can send them); they are
    // not for ctx.waitForSignal.
    this.signals = signals.length === 0 ? signals : signals.filter((s) => !isReserved(s));
    this.pendingReserved = signals.length === 0 ? [] : signals.filter(isReserved);
    this.replayRemaining = this.index.deliveries.length;
    for (const d of this.index.deliveries) this.queue.push({ ...d, replay: true });
    this.ctx = new RunContext(this, () => this.log);
  }

  /** Operations whose completion registered a compensation, by seq; made on first use. */
  private compensable(): Map<number, Op> {
    return (this.compensableOps ??= new Map<number, Op>());
  }

  /** The run's logger, made on first use: most runs never log. */
  get log(): Logger {
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

  /** The run's spans, made on first use; in the trace the run was started with. */
  get trace(): RunTrace {
    return (this.runTrace ??= new RunTrace(this.runId, this.workflow, this.index.traceparent));
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
    switch (delivery.type) {
      case "marker":
        this.feed({ type: "phaseMarker" });
        return;
      case "cancel":
        this.feed({ type: "cancelRequested", reason: delivery.reason });
        return;
      case "deadline":
        this.feed({ type: "deadlinePassed" });
        return;
      case "op":
        break;
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
    const failed = completion.event === "failed";
    const data = completion.data;
    if (
      op.compensates === undefined &&
      (op.kind === "step" || op.kind === "call" || op.kind === "child") &&
      !this.halted &&
      !this.terminal
    ) {
      // Nothing to register for an operation without a compensation: to the core it only left
      // flight (the same rule as opSettled, through its hot-path entry point).
      if (op.compensate === undefined)
        for (const effect of this.core.opIdle(op.seq)) this.perform(effect);
      else this.feed(this.settledInput(op, failed, data));
    }
    if (failed) op.reject(this.errors.create(op, data.error));
    else op.resolve(data.output);
  }

  /** What the core learns when a step, call or child settles: its outcome and its compensation. */
  private settledInput(op: Op, failed: boolean, data: OpEntryData): RunInput {
    const outcome = !failed
      ? "completed"
      : data.unknown
        ? "unknown"
        : data.withdrawn
          ? "withdrawn"
          : "failed";
    const input: Extract<RunInput, { type: "opSettled" }> = {
      type: "opSettled",
      seq: op.seq,
      kind: op.kind,
      name: op.name,
      outcome,
    };
    if (op.compensate === undefined) return input;
    if (outcome === "completed" || (outcome === "unknown" && op.compensateUnknown)) {
      this.compensable().set(op.seq, op);
      input.compensation = {
        output: outcome === "completed" ? data.output : undefined,
        policy:
          op.onCompensationFailure ?? this.definition.options.onCompensationFailure ?? "terminate",
      };
    } else if (outcome === "unknown") {
      input.unknownWithoutCompensation = true;
    }
    return input;
  }

  private onWorkflowReturned(output: unknown): void {
    if (this.halted || this.terminal || this.core.isStopping) return;
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
    this.feed({ type: "workflowReturned", output });
  }

  private onWorkflowThrew(thrown: unknown): void {
    if (this.halted || this.terminal) return;
    const causeSeq = this.errors.seqOf(thrown);
    this.feed({
      type: "workflowThrew",
      error: toBatonError(thrown).toJSON(),
      ...(causeSeq === undefined ? {} : { causeSeq }),
    });
  }

  /** The workflow has reacted to everything delivered so far. */
  private onQuiescent(): void {
    if (this.halted) return;
    if (this.replaying && this.replayRemaining === 0) {
      // Replay-only: the journal matched up to its end; nothing goes live from here.
      if (this.host.replayOnly) {
        this.halt();
        this.host.replayOnly(this, undefined);
        return;
      }
      this.endReplay();
    }
    if (this.replaying) return;
    if (!this.terminal && !sameSnapshot(this.snapshot(), this.writer.lastWritten))
      this.writer.requestWrite();
    if (this.isIdle()) this.host.onIdle(this);
  }

  /** An attempt ended, or failed and waits to retry: the run may have nothing left in flight. */
  onAttemptEnded(): void {
    if (this.executing === 0 && !this.pumping) this.onQuiescent();
  }

  private endReplay(): void {
    this.replaying = false;
    const deferred = this.deferred;
    this.deferred = [];
    for (const op of deferred) {
      if (op.abandoned || op.settled) continue;
      op.goLive?.();
      // Stopped while it was away: a command it may have sent is settled before any rollback.
      if (op.settleAfterReplay) this.settleInFlight(op);
    }
    this.feed({ type: "replayEnded" });
    if (!this.terminal && !this.core.isStopping) this.armDeadline();
    this.writer.requestWrite();
    const reserved = this.pendingReserved;
    this.pendingReserved = [];
    for (const signal of reserved) this.receiveReserved(signal);
  }

  // ─── The core: inputs in, effects out ────────────────────────────────────────────────

  /** Hands one input to the core and carries out what it decides. */
  feed(input: RunInput): void {
    if (this.halted || this.terminal) return;
    for (const effect of this.core.handle(input)) this.perform(effect);
  }

  private perform(effect: RunEffect): void {
    switch (effect.type) {
      case "append":
        this.writer.append(null, effect.entry, null, effect.data);
        return;
      case "stopWorkflow":
        this.stopWorkflow(new Set(effect.keep));
        return;
      case "deliverMarker":
        this.enqueue({ type: "marker", replay: false });
        return;
      case "startCompensation":
        this.startCompensation(effect.seq);
        return;
      case "armCompensationRetry":
        this.compensationTimer?.cancel();
        this.compensationTimer = this.host.clock.setTimer(effect.at - this.host.clock.now(), () => {
          this.compensationTimer = undefined;
          this.feed({ type: "compensationRetryDue" });
        });
        this.writer.requestWrite();
        return;
      case "publishCompensationFailed": {
        const op = this.compensableOps?.get(effect.seq);
        const event = compensationEvent(this.runId, this.workflow, this.host.clock.now(), {
          seq: effect.seq,
          attempt: effect.attempt,
          name: op?.name ?? "",
          error: effect.error,
        });
        this.writer.addEvent(event);
        this.log.warn(
          { seq: effect.seq, err: effect.error },
          "compensation failed; waiting for an operator",
        );
        return;
      }
      case "finish":
        this.finish(
          {
            status: effect.status,
            ...(effect.output === undefined ? {} : { output: effect.output }),
            ...(effect.error ? { error: effect.error } : {}),
          },
          effect.causeSeq,
        );
        return;
      case "discardUncommitted":
        this.writer.discardUncommitted();
        return;
    }
  }

  /**
   * The run stops its workflow: what only waits (timers, signals, retry waits) is dropped; what
   * may still take effect is settled (the core waits for it before compensating).
   */
  private stopWorkflow(inFlight: ReadonlySet<number>): void {
    this.deadlineTimer?.cancel();
    for (const op of [...this.ops.values()]) {
      if (op.settled || op.compensates !== undefined) continue;
      // Replay delivers it later, in journal order, as it happened.
      if (op.recorded?.completion) continue;
      if (inFlight.has(op.seq)) {
        this.settleInFlight(op);
        continue;
      }
      if (this.replaying && mayHaveSent(op)) {
        op.settleAfterReplay = true;
        continue;
      }
      const lastError = op.wait?.lastError;
      if (op.lastOutcomeUnknown && op.compensate && lastError && !this.replaying) {
        // Waiting to retry after an attempt that got no answer: that attempt may have landed.
        op.timer?.cancel();
        this.complete(op, "failed", { error: lastError, unknown: true });
        continue;
      }
      op.abandoned = true;
      op.timer?.cancel();
      op.wait = undefined;
      this.ops.delete(op.seq);
    }
  }

  /** Settles an operation in flight: a queued task is withdrawn, a child run cancelled. */
  private settleInFlight(op: Op): void {
    if (op.taskKey) settleQueuedCall(this, op);
    else if (op.kind === "child" && op.childRunId)
      this.host.cancelRun(op.childRunId, `parent run ${this.runId} is rolling back`);
  }

  private startCompensation(seq: number): void {
    const op = this.compensableOps?.get(seq);
    const fn = op?.compensate;
    if (!op || !fn) {
      this.feed({
        type: "compensationFailed",
        error: { code: "INTERNAL", message: `no compensation registered for seq ${seq}` },
        now: this.host.clock.now(),
        random: Math.random(),
      });
      return;
    }
    this.compensatingSeq = seq;
    if (!this.replaying) this.host.fault("during-compensation", this.runId);
    // Replay runs a compensation again only to find where it was: that is no new span.
    const span = this.replaying ? undefined : this.trace.start(`compensate ${op.name}`, seq);
    const output = op.completion?.data.output ?? op.recorded?.completion?.data.output;
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(fn(op.completion?.data.unknown ? undefined : output));
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      () => {
        if (span) endSpan(span);
        this.feed({ type: "compensationSucceeded" });
      },
      (e: unknown) => {
        const causeSeq = this.errors.seqOf(e);
        const error = toBatonError(e).toJSON();
        if (span) endSpan(span, error);
        this.feed({
          type: "compensationFailed",
          error,
          ...(causeSeq === undefined ? {} : { causeSeq }),
          now: this.host.clock.now(),
          random: Math.random(),
        });
      },
    );
  }

  private armDeadline(): void {
    const at = this.index.deadlineAt;
    if (at === undefined || this.deadlineTimer) return;
    this.deadlineTimer = this.host.clock.setTimer(at - this.host.clock.now(), () => {
      this.deadlineTimer = undefined;
      this.feed({ type: "deadlinePassed" });
    });
  }

  /** Ends the run: its terminal entry and event are written; the end is announced once durable. */
  finish(terminal: Terminal, causeSeq: number | undefined): void {
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
    this.stopTimers();
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
    this.writer.addEvent(terminalEvent(this.runId, this.workflow, terminal, this.host.clock.now()));
    this.writer.requestWrite();
  }

  /**
   * Non-determinism: the code no longer matches the journal. Nothing of this session is
   * written to the journal but the failure itself; after a fix, `retry` replays the run.
   */
  park(error: NonDeterminismError): void {
    if (this.halted || this.terminal) return;
    if (this.host.replayOnly) {
      this.halt();
      this.host.replayOnly(this, error);
      return;
    }
    this.log.error({ err: error.toJSON() }, "run parked: workflow code does not match its journal");
    this.stopTimers();
    this.replaying = false;
    this.feed({ type: "nonDeterminism", error: error.toJSON() });
  }

  private stopTimers(): void {
    for (const op of this.ops.values()) op.timer?.cancel();
    this.compensationTimer?.cancel();
    this.compensationTimer = undefined;
    this.deadlineTimer?.cancel();
    this.deadlineTimer = undefined;
  }

  // ─── Operations (called by RunContext) ───────────────────────────────────────────────

  /** What the journal has at the next seq, without taking it (for patches: patches.ts). */
  peekNext(): { recorded: RecordedOpName | undefined; journalGoesPast: boolean } {
    const seq = this.nextSeq;
    this.lastRecordedSeq ??= Math.max(0, ...this.index.ops.keys());
    return { recorded: this.index.ops.get(seq), journalGoesPast: this.lastRecordedSeq > seq };
  }

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
    if (this.compensatingSeq !== undefined && this.core.phase === "compensating")
      op.compensates = this.compensatingSeq;
    this.ops.set(seq, op);
    return { op, promise };
  }

  /** Runs `goLive` now, or once replay is over; never for an operation that is already done. */
  schedule(op: Op, goLive: () => void): void {
    if (op.recorded?.completion) return;
    // Once the run stops, the workflow's new operations never start.
    if (op.compensates === undefined && (this.core.isStopping || this.halted || this.terminal))
      return;
    if (this.replaying) {
      op.goLive = goLive;
      this.deferred.push(op);
    } else {
      goLive();
    }
  }

  get stopping(): boolean {
    return this.halted || this.terminal !== undefined || this.core.isStopping;
  }

  /** Tells the core an operation's command is (or may be) out, or no longer is. */
  markInFlight(op: Op, inFlight: boolean): void {
    if (op.compensates !== undefined || op.settled || this.halted || this.terminal) return;
    // The core's own entry points for its most frequent inputs: no input object per attempt.
    if (inFlight) this.core.opInFlight(op.seq);
    else for (const effect of this.core.opIdle(op.seq)) this.perform(effect);
  }

  /** Records a live completion and delivers it. */
  complete(op: Op, event: OpEvent, data: OpEntryData): void {
    if (op.settled || op.abandoned || this.halted || this.terminal) return;
    op.settled = true;
    op.timer?.cancel();
    op.wait = undefined;
    const full = op.compensates === undefined ? data : { ...data, compensates: op.compensates };
    op.completion = { event, data: full };
    this.runTrace?.close(op.seq, event === "failed" ? data.error : undefined, data.attempts);
    this.appendOp(op, event, full);
    this.enqueue({ type: "op", seq: op.seq, replay: false });
  }

  appendOp(op: Op, event: OpEvent, data: OpEntryData | undefined): void {
    const full =
      op.compensates !== undefined && data && data.compensates === undefined
        ? { ...data, compensates: op.compensates }
        : data;
    this.writer.append(op.seq, opEntryType(op.kind, event), op.name, full);
  }

  private appendRun(type: string, data: unknown): void {
    this.writer.append(null, type, null, data);
  }

  /** Resolves true once every entry appended so far is durable; false if the run stopped here. */
  durable(): Promise<boolean> {
    if (this.halted) return Promise.resolve(false);
    return this.writer.durable();
  }

  /** Arms a durable timer's in-memory twin; the journal already holds its fire time. */
  armTimer(op: Op, fireAt: number, wait: Wait, onFire: () => void): void {
    op.wait = { ...wait, until: fireAt };
    op.timer = this.host.clock.setTimer(fireAt - this.host.clock.now(), () => {
      op.timer = undefined;
      if (op.abandoned || this.halted) return;
      this.trace.mark("timer", op.seq, { "baton.timer.kind": wait.kind, "baton.fire_at": fireAt });
      onFire();
    });
  }

  // ─── Signals, children, tasks ────────────────────────────────────────────────────────

  /** A signal arrived (already durable). Kept until a wait for its name consumes it. */
  receiveSignal(signal: SignalRecord): void {
    if (isReserved(signal)) {
      this.receiveReserved(signal);
      return;
    }
    // Kept already, or consumed already: a refresh may read it from the store again until its
    // consumption is durable, and a signal is delivered to one wait only.
    if (this.consumedSignalIds?.has(signal.signalId)) return;
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
    // Kept for a later wait: the row was marked due when the signal was stored; say otherwise.
    this.writer.rewriteRow();
  }

  /** Completes a signal wait with the oldest kept signal of its name; false if there is none. */
  consumeSignal(op: Op): boolean {
    const index = this.signals.findIndex((s) => s.name === op.signalName);
    const signal = this.signals[index];
    if (!signal) return false;
    this.signals.splice(index, 1);
    (this.consumedSignalIds ??= new Set()).add(signal.signalId);
    this.writer.consumeSignal(signal.signalId, op.seq);
    this.trace.mark(`signal ${signal.name}`, op.seq, { "baton.signal_id": signal.signalId });
    this.complete(op, "received", {
      output: decodeJson(signal.payload),
      signalId: signal.signalId,
    });
    return true;
  }

  addChild(run: NewRun): void {
    this.writer.addChild(run);
  }

  addEvent(event: EventRecord): void {
    this.writer.addEvent(event);
  }

  /** An event on `topic` was published (on this node): waits for that topic look at the log. */
  onEventPublished(topic: string): void {
    if (this.replaying || this.halted) return;
    for (const op of this.ops.values()) {
      if (op.eventWait?.topic === topic && !op.settled && !op.abandoned)
        void checkEventWait(this, op);
    }
  }

  enqueueTask(task: NewTask): void {
    this.writer.enqueueTask(task);
  }

  requeueTask(op: Op, taskKey: string, visibleAt: number): void {
    op.wait = { kind: "task", ...(op.queued ? { service: op.queued.service } : {}) };
    this.writer.requeueTask(taskKey, visibleAt, op.queued?.service);
  }

  recordCall(service: string, ok: boolean, latencyMs: number): void {
    this.host.recordCall(service, ok, latencyMs);
  }

  /** A worker replied to one of this run's tasks (the reply is durable in the task row). */
  onTaskSettled(task: TaskRecord): void {
    if (this.replaying) return; // the deferred resume reads the task row itself
    const op = this.ops.get(task.seq);
    if (op?.taskKey === task.taskKey) onTaskUpdate(this, op, task);
  }

  /** A child run ended (its end is durable). */
  onChildDone(child: RunRecord): void {
    for (const op of this.ops.values()) {
      if (op.kind === "child" && op.childRunId === child.runId) completeChild(this, op, child);
    }
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
        if (child && isTerminal(child.status)) completeChild(this, op, child);
      } else if (op.eventWait) {
        await checkEventWait(this, op);
      }
    }
  }

  // ─── Cancels and operator actions ────────────────────────────────────────────────────

  /** A cancel or an operator's action, durable as a reserved signal: consumed, then acted on. */
  private receiveReserved(signal: SignalRecord): void {
    if (this.terminal || this.halted) return;
    if (this.replaying) {
      if (!this.pendingReserved.some((s) => s.signalId === signal.signalId))
        this.pendingReserved.push(signal);
      return;
    }
    if (this.consumedSignalIds?.has(signal.signalId)) return;
    (this.consumedSignalIds ??= new Set()).add(signal.signalId);
    // Consumed by the run itself, not by an operation: seq 0, written with the next entries.
    this.writer.consumeSignal(signal.signalId, 0);
    this.writer.requestWrite();
    const payload = decodeJson(signal.payload) as
      { reason?: unknown; action?: unknown; seq?: unknown } | undefined;
    if (signal.name === CANCEL_SIGNAL) {
      const reason = typeof payload?.reason === "string" ? payload.reason : "cancelled on request";
      this.feed({ type: "cancelRequested", reason });
      return;
    }
    if (
      (payload?.action === "retry" || payload?.action === "skip") &&
      typeof payload.seq === "number"
    ) {
      this.log.info(
        { action: payload.action, seq: payload.seq },
        "operator action on a failed compensation",
      );
      this.compensationTimer?.cancel();
      this.compensationTimer = undefined;
      this.feed({ type: "operatorAction", action: payload.action, seq: payload.seq });
    }
  }

  /** Stops everything in memory; the store keeps what was committed. */
  halt(): void {
    if (this.halted) return;
    this.halted = true;
    this.stopTimers();
    this.runTrace?.closeAll();
    this.writer.abandonWaiters();
  }

  // ─── State for the status, the row and the API ───────────────────────────────────────

  /** What the run's row should say now. */
  snapshot(): Snapshot {
    if (this.terminal) return { status: this.terminal.status, wakeAt: null, waitingOn: null };
    const rollingBack = this.core.phase !== "running";
    const current = rollingBack ? this.core.current : undefined;
    if (current && current.state !== "running") {
      const op = this.compensableOps?.get(current.seq);
      return compensationWaitSnapshot(this.runId, current, op);
    }
    const snapshot = liveSnapshot(this.ops, this.pumping || this.queue.length > 0, rollingBack);
    const deadline = this.index.deadlineAt;
    if (
      !rollingBack &&
      deadline !== undefined &&
      (snapshot.wakeAt === null || deadline < snapshot.wakeAt)
    )
      return { ...snapshot, wakeAt: deadline };
    return snapshot;
  }

  /** Waiting, with nothing in flight: safe to drop from memory. */
  isIdle(): boolean {
    return (
      !this.halted &&
      !this.terminal &&
      !this.replaying &&
      !this.pumping &&
      this.writer.isIdle &&
      this.executing === 0 &&
      this.writer.lastWritten.status === RunStatus.Waiting
    );
  }

  /** Operations in memory that the journal does not show yet (for the Run view). */
  liveOps(): LiveOp[] {
    return liveOps(this.ops);
  }

  /** The epoch this execution writes under (its fencing token). */
  get epoch(): number {
    return this.epochValue;
  }

  get recordRef(): RunRecord {
    return this.record;
  }

  /** When the run must be woken, as last written to the store. */
  get wakeAt(): number | null {
    return this.writer.lastWritten.wakeAt;
  }

  get status(): RunStatus {
    return this.snapshot().status;
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

function isReserved(signal: SignalRecord): boolean {
  return signal.name.startsWith(RESERVED_SIGNAL_PREFIX);
}

/**
 * Replay stopped the workflow at an operation the journal does not finish: could its command be
 * out? A queued call or child that was started may be; a step or direct call with a compensation
 * is run once more (same idempotency key) so its outcome is known before the rollback.
 */
function mayHaveSent(op: Op): boolean {
  const started = op.recorded?.entries.some((e) => e.event === "started") ?? false;
  if (op.kind === "child") return started;
  if (op.kind === "call" && started) return true;
  return (op.kind === "step" || op.kind === "call") && op.compensate !== undefined;
}
