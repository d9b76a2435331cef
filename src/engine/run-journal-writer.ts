import { fromErrorData, type BatonError } from "../common/index.js";
import type {
  EventRecord,
  JournalEntry,
  NewRun,
  NewTask,
  RunRecord,
  WriteOp,
  WriteResult,
} from "../store/index.js";
import type { Writer } from "./group-commit.js";
import type { ExecutionHost } from "./host.js";
import { publishCommitted, publishRunUpdated } from "./run-events.js";
import { toBatonEvent } from "./event-records.js";
import type { JournalWriterPort, WriterRunPort } from "./run-port.js";
import { sameSnapshot, type Snapshot } from "./run-snapshot.js";
import { deleteAfter } from "./retention.js";

/** A write being committed, and what its commit sets off. */
interface InFlightWrite {
  entries: JournalEntry[];
  children: string[];
  terminal: boolean;
  snapshot: Snapshot;
  queuedServices: string[];
  withdrew: boolean;
  /** User events a run emitted (ctx.emit), published live once durable. */
  userEvents: EventRecord[];
  deleteAfter: number | null;
}

/**
 * A run's side of group commit. Journal entries and the effects that go with them (consumed
 * signals, child runs, tasks, events) wait here until the committer takes them as one write, with
 * the run's row. A run has at most one write in flight, so its writes apply in order. Nothing is
 * written while the run replays; what it appends meanwhile goes out once replay ends.
 */
export class RunJournalWriter implements Writer, JournalWriterPort {
  // Entries get positions as they are appended; committedLength is durable.
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
  private inFlight: InFlightWrite | undefined;
  private writtenSnapshot: Snapshot;
  private rowStale = false;
  private durableWaiters: Array<{ position: number; resolve: (ok: boolean) => void }> = [];

  constructor(
    private readonly run: WriterRunPort,
    private readonly host: ExecutionHost,
    private readonly record: RunRecord,
    length: number,
  ) {
    this.length = length;
    this.committedLength = length;
    this.writtenSnapshot = {
      status: record.status,
      wakeAt: record.wakeAt,
      waitingOn: record.waitingOn,
    };
  }

  /**
   * Another writer changed the run's row behind this one (a signal marked it due): write the
   * row again even if the run's own state did not change, so a stale wake-up does not linger.
   */
  rewriteRow(): void {
    this.rowStale = true;
    this.requestWrite();
  }

  /** The row as last committed. */
  get lastWritten(): Snapshot {
    return this.writtenSnapshot;
  }

  /** Some entry appended so far is not durable yet. */
  get hasUncommitted(): boolean {
    return this.committedLength < this.length;
  }

  /** No write in flight and no entry waiting for one. */
  get isIdle(): boolean {
    return !this.inFlight && this.pending.length === 0 && !this.rowStale;
  }

  append(seq: number | null, type: string, name: string | null, data: unknown): void {
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

  consumeSignal(signalId: number, seq: number): void {
    this.pendingSignals.push({ signalId, seq });
  }

  addChild(run: NewRun): void {
    this.pendingChildren.push(run);
  }

  addEvent(event: EventRecord): void {
    this.pendingEvents.push(event);
  }

  enqueueTask(task: NewTask): void {
    this.pendingTasks.push(task);
    this.requestWrite();
  }

  requeueTask(taskKey: string, visibleAt: number, service: string | undefined): void {
    this.pendingRequeues.push({ taskKey, visibleAt });
    if (service !== undefined) this.requeuedServices.push(service);
    this.requestWrite();
  }

  withdrawTask(taskKey: string): void {
    this.pendingWithdrawals.push(taskKey);
  }

  /** Non-determinism: what this session appended and did not commit is never written. */
  discardUncommitted(): void {
    this.pending = [];
    this.pendingSignals = [];
    this.pendingChildren = [];
    this.pendingEvents = [];
    this.pendingTasks = [];
    this.pendingRequeues = [];
    this.length = this.committedLength;
  }

  /** Resolves true once every entry appended so far is durable; false if the run halts first. */
  durable(): Promise<boolean> {
    if (this.committedLength >= this.length) return Promise.resolve(true);
    return new Promise((resolve) => this.durableWaiters.push({ position: this.length, resolve }));
  }

  /** The run halted: what was not durable by now will not become so in this session. */
  abandonWaiters(): void {
    for (const waiter of this.durableWaiters) waiter.resolve(false);
    this.durableWaiters = [];
  }

  requestWrite(): void {
    if (!this.run.replaying && !this.run.halted && !this.inFlight)
      this.host.committer.markDirty(this);
  }

  /** Asks for a write if the row no longer says what the run is doing. */
  requestWriteIfStale(): void {
    if (!this.inFlight && !sameSnapshot(this.run.snapshot(), this.writtenSnapshot))
      this.requestWrite();
  }

  // ─── Called by the group committer ───────────────────────────────────────────────────

  takeWrite(): WriteOp | undefined {
    const run = this.run;
    if (run.halted || run.replaying || this.inFlight) return undefined;
    const snapshot = run.snapshot();
    if (
      this.pending.length === 0 &&
      this.pendingSignals.length === 0 &&
      !this.rowStale &&
      this.pendingChildren.length === 0 &&
      this.pendingRequeues.length === 0 &&
      this.pendingWithdrawals.length === 0 &&
      sameSnapshot(snapshot, this.writtenSnapshot)
    ) {
      return undefined;
    }
    this.rowStale = false;
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
    const terminal = run.terminal;
    const queuedServices = [...new Set([...tasks.map((t) => t.service), ...this.requeuedServices])];
    this.requeuedServices = [];
    const updatedAt = this.host.clock.now();
    // The run's retention is fixed as it ends: the sweeper needs no workflow code to delete it.
    const expiry = terminal ? deleteAfter(updatedAt, this.host.retentionOf(run.workflow)) : null;
    this.inFlight = {
      deleteAfter: expiry,
      entries,
      children: children.map((c) => c.runId),
      terminal: terminal !== undefined,
      snapshot,
      queuedServices,
      withdrew: withdrawals.length > 0,
      userEvents: events.filter((e) => e.eventId !== undefined),
    };
    return {
      type: "appendRun",
      runId: run.runId,
      epoch: run.epoch,
      expectedLength: this.committedLength,
      entries,
      update: {
        status: snapshot.status,
        updatedAt,
        wakeAt: snapshot.wakeAt,
        waitingOn: snapshot.waitingOn,
        ...(terminal
          ? {
              output: terminal.output === undefined ? null : JSON.stringify(terminal.output),
              error: terminal.error ?? null,
              deleteAfter: expiry,
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
    const run = this.run;
    if (!written || run.halted) return;
    if (!result.ok) {
      this.onCommitFailed(fromErrorData(result.error));
      return;
    }
    this.committedLength += written.entries.length;
    if (written.deleteAfter !== null) this.host.onRunExpires(written.deleteAfter);
    this.host.fault("after-journal-commit", run.runId);
    if (written.entries.some((e) => e.type === "call.completed" || e.type === "call.failed")) {
      this.host.fault("after-reply-recorded", run.runId);
    }
    const changed = !sameSnapshot(this.writtenSnapshot, written.snapshot);
    this.writtenSnapshot = written.snapshot;
    if (changed && !written.terminal && this.host.hasListeners) {
      publishRunUpdated(this.host, run.runId, run.workflow, written.snapshot);
    }
    const ready = this.durableWaiters.filter((w) => w.position <= this.committedLength);
    if (ready.length) {
      this.durableWaiters = this.durableWaiters.filter((w) => w.position > this.committedLength);
      for (const waiter of ready) waiter.resolve(true);
    }
    publishCommitted(
      this.host,
      run.runId,
      run.workflow,
      this.writtenSnapshot.status,
      written.entries,
    );
    if (written.queuedServices.length) this.host.onTasksQueued(written.queuedServices);
    if (written.withdrew) this.host.onTasksWithdrawn();
    if (written.children.length) this.host.onChildrenCreated(run, written.children);
    if (written.userEvents.length) this.host.onUserEvents(written.userEvents.map(toBatonEvent));
    if (written.terminal) {
      run.halt();
      this.host.onTerminal(run);
      return;
    }
    if (
      this.pending.length ||
      this.pendingChildren.length ||
      this.pendingEvents.length ||
      this.pendingTasks.length ||
      this.pendingRequeues.length ||
      this.pendingWithdrawals.length ||
      !sameSnapshot(run.snapshot(), this.writtenSnapshot)
    ) {
      this.requestWrite();
    }
    if (
      this.host.replayAfterEveryOp &&
      run.executing === 0 &&
      written.entries.length > 0 &&
      !run.terminal
    ) {
      this.host.onReplayPoint(run);
      return;
    }
    if (run.isIdle()) this.host.onIdle(run);
  }

  onCommitFailed(error: BatonError): void {
    this.inFlight = undefined;
    this.run.log.error(
      { err: error.toJSON() },
      "journal write failed; the run will resume from the store",
    );
    this.run.halt();
    this.host.onLost(this.run, error);
  }
}
