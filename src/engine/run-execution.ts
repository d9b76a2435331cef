import {
  BatonError,
  NonDeterminismError,
  RunStatus,
  decodeJson,
  findNonJson,
  idempotencyKey,
  isTerminal,
  toBatonError,
  type ErrorData,
  type Logger,
  type OpKind,
} from "../common/index.js";
import type {
  JournalEntry,
  NewRun,
  NewTask,
  RunRecord,
  SignalRecord,
  TaskRecord,
} from "../store/index.js";
import { completeChild } from "./child-run.js";
import type { WorkflowDefinition } from "./definitions.js";
import type { ExecutionHost } from "./host.js";
import {
  CANCEL_SIGNAL,
  Entry,
  ReplayIndex,
  describeOp,
  opEntryType,
  type Delivery,
  type OpEntryData,
  type OpEvent,
} from "./journal.js";
import { OpErrors, type Op, type Wait } from "./op.js";
import { onTaskUpdate } from "./queued-call.js";
import { RunContext } from "./run-context.js";
import { terminalEvent } from "./run-events.js";
import { RunJournalWriter } from "./run-journal-writer.js";
import {
  liveOps,
  liveSnapshot,
  sameSnapshot,
  type LiveOp,
  type Snapshot,
  type Terminal,
} from "./run-snapshot.js";
import { Saga } from "./saga.js";

type Phase = "running" | "compensating" | "cancelling";

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
 *
 * Collaborators: `writer` (what is written, and when), `saga` (compensations), attempts.ts
 * (executing steps and calls), run-snapshot.ts (what the run's row says).
 */
export class RunExecution {
  readonly runId: string;
  readonly workflow: string;
  readonly ctx: RunContext;
  readonly writer: RunJournalWriter;
  readonly errors = new OpErrors();
  private readonly saga = new Saga();
  private readonly index: ReplayIndex;
  private readonly ops = new Map<number, Op>();
  private readonly queue: QueuedDelivery[] = [];
  private readonly signals: SignalRecord[];
  private readonly consumedCancels = new Set<number>();
  private logger: Logger | undefined;
  private nextSeq = 1;
  private pumping = false;
  private replayRemaining: number;
  replaying = true;
  halted = false;
  private phase: Phase = "running";
  private failure: { error: BatonError; causeSeq: number | undefined } | undefined;
  private cancelRequest: string | undefined;
  /** A cancel that arrived while replaying: acted on once the replay is over. */
  private pendingCancel: SignalRecord | undefined;
  private deferred: Op[] = [];
  terminal: Terminal | undefined;
  /** Attempts of steps and calls executing right now (counted by attempts.ts). */
  executing = 0;
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
    this.writer = new RunJournalWriter(
      this,
      host,
      record,
      Math.max(this.index.length, record.journalLength),
    );
    // A cancel travels as a reserved signal (any node can send it); it is not for ctx.waitForSignal.
    this.signals = signals.filter((s) => s.name !== CANCEL_SIGNAL);
    this.pendingCancel = signals.find((s) => s.name === CANCEL_SIGNAL);
    this.cancelRequest = this.index.cancelRequested;
    this.replayRemaining = this.index.deliveries.length;
    for (const d of this.index.deliveries) this.queue.push({ ...d, replay: true });
    this.ctx = new RunContext(this, () => this.log);
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
      op.reject(this.errors.create(op, completion.data.error));
    } else {
      const value = completion.data.output;
      if (op.compensate && this.phase === "running") this.saga.add(op, op.compensate, value);
      op.resolve(value);
    }
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
    this.failure = { error: toBatonError(thrown), causeSeq: this.errors.seqOf(thrown) };
    if (!this.pumping) this.onQuiescent();
  }

  /** The workflow has reacted to everything delivered so far. */
  private onQuiescent(): void {
    if (this.halted) return;
    if (this.replaying && this.replayRemaining === 0) this.endReplay();
    if (this.replaying) return;
    this.advancePhase();
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
    for (const op of deferred) if (!op.abandoned && !op.settled) op.goLive?.();
    this.writer.requestWrite();
    const cancel = this.pendingCancel;
    this.pendingCancel = undefined;
    if (cancel) this.receiveCancel(cancel);
  }

  /** Turns a failure or a cancel request into a phase marker, once nothing is executing. */
  private advancePhase(): void {
    if (this.terminal || this.phase !== "running" || this.executing > 0) return;
    if (this.failure) {
      const { error, causeSeq } = this.failure;
      if (this.saga.isEmpty) {
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
      // A command still queued is withdrawn, never delivered; one a worker holds may still finish.
      if (op.taskKey) this.writer.withdrawTask(op.taskKey);
      this.ops.delete(op.seq);
    }
    void this.saga.compensate(this, phase, data);
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
    this.writer.addEvent(terminalEvent(this.runId, this.workflow, terminal, this.host.clock.now()));
    this.writer.requestWrite();
  }

  /**
   * Non-determinism: the code no longer matches the journal. Nothing of this session is
   * written to the journal but the failure itself; after a fix, `retry` replays the run.
   */
  park(error: NonDeterminismError): void {
    if (this.halted || this.terminal) return;
    this.log.error({ err: error.toJSON() }, "run parked: workflow code does not match its journal");
    this.writer.discardUncommitted();
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
    if (this.saga.current !== undefined) op.compensates = this.saga.current;
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
      if (!op.abandoned && !this.halted) onFire();
    });
  }

  // ─── Signals, children, tasks ────────────────────────────────────────────────────────

  /** A signal arrived (already durable). Kept until a wait for its name consumes it. */
  receiveSignal(signal: SignalRecord): void {
    if (signal.name === CANCEL_SIGNAL) {
      this.receiveCancel(signal);
      return;
    }
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
    this.writer.consumeSignal(signal.signalId, op.seq);
    this.complete(op, "received", {
      output: decodeJson(signal.payload),
      signalId: signal.signalId,
    });
    return true;
  }

  addChild(run: NewRun): void {
    this.writer.addChild(run);
  }

  enqueueTask(task: NewTask): void {
    this.writer.enqueueTask(task);
  }

  requeueTask(op: Op, taskKey: string, visibleAt: number): void {
    op.wait = { kind: "task", ...(op.queued ? { service: op.queued.service } : {}) };
    this.writer.requeueTask(taskKey, visibleAt, op.queued?.service);
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
      }
    }
  }

  // ─── Cancel, halt ────────────────────────────────────────────────────────────────────

  /** A cancel request, durable as a signal: recorded in the journal, and the signal consumed. */
  private receiveCancel(signal: SignalRecord): void {
    if (this.terminal || this.halted) return;
    if (this.replaying) {
      this.pendingCancel ??= signal;
      return;
    }
    if (this.consumedCancels.has(signal.signalId)) return;
    this.consumedCancels.add(signal.signalId);
    // Consumed by the run itself, not by an operation: seq 0, written with the next entries.
    this.writer.consumeSignal(signal.signalId, 0);
    const payload = decodeJson(signal.payload) as { reason?: unknown } | undefined;
    const reason = typeof payload?.reason === "string" ? payload.reason : "cancelled on request";
    if (this.cancelRequest !== undefined || this.phase !== "running") {
      // Already cancelling or compensating: only the consumption to write.
      this.writer.requestWrite();
      return;
    }
    this.requestCancel(reason);
  }

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
    this.writer.abandonWaiters();
  }

  // ─── State for the status, the row and the API ───────────────────────────────────────

  /** What the run's row should say now. */
  snapshot(): Snapshot {
    if (this.terminal) return { status: this.terminal.status, wakeAt: null, waitingOn: null };
    return liveSnapshot(this.ops, this.pumping || this.queue.length > 0, this.phase !== "running");
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
