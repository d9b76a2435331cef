import type { BatonError, Logger } from "../common/index.js";
import type { EventRecord, NewRun, NewTask } from "../store/index.js";
import type { WorkflowOptions } from "./definitions.js";
import type { ExecutionHost } from "./host.js";
import type { OpEntryData, OpEvent } from "./journal.js";
import type { Op, Wait } from "./op.js";
import type { Snapshot, Terminal } from "./run-snapshot.js";
import type { RunTrace } from "./tracing.js";

/** What the run's journal writer offers the run's helpers. */
export interface JournalWriterPort {
  /** Some entry appended so far is not durable yet. */
  readonly hasUncommitted: boolean;
  requestWrite(): void;
  requestWriteIfStale(): void;
  withdrawTask(taskKey: string): void;
  /** Writes the run's row again with the next write (its wake-up time is stale). */
  rewriteRow(): void;
  onCommitFailed(error: BatonError): void;
}

/** The run as its journal writer sees it. */
export interface WriterRunPort {
  readonly runId: string;
  readonly workflow: string;
  readonly epoch: number;
  readonly replaying: boolean;
  readonly halted: boolean;
  readonly terminal: Terminal | undefined;
  readonly executing: number;
  readonly log: Logger;
  snapshot(): Snapshot;
  isIdle(): boolean;
  halt(): void;
}

/**
 * The run as the ctx implementation, the attempt loop and the queue calls see it: the one
 * interface between them and the driver (run-execution.ts), so none of them imports the driver.
 */
export interface RunPort extends WriterRunPort {
  readonly isReplaying: boolean;
  readonly stopping: boolean;
  executing: number;
  readonly hostRef: ExecutionHost;
  readonly definitionOptions: WorkflowOptions<unknown>;
  readonly writer: JournalWriterPort;
  /** The run's spans (OpenTelemetry API; a no-op without an SDK). */
  readonly trace: RunTrace;
  /** What the journal has at the next seq, without taking it (for patches: patches.ts). */
  peekNext(): {
    recorded: { kind: Op["kind"]; name: string } | undefined;
    journalGoesPast: boolean;
  };
  newOp(kind: Op["kind"], name: string): { op: Op; promise: Promise<unknown> } | undefined;
  schedule(op: Op, goLive: () => void): void;
  complete(op: Op, event: OpEvent, data: OpEntryData): void;
  appendOp(op: Op, event: OpEvent, data: OpEntryData | undefined): void;
  durable(): Promise<boolean>;
  armTimer(op: Op, fireAt: number, wait: Wait, onFire: () => void): void;
  consumeSignal(op: Op): boolean;
  forget(op: Op): void;
  idempotencyKey(seq: number): string;
  markInFlight(op: Op, inFlight: boolean): void;
  onAttemptEnded(): void;
  addChild(run: NewRun): void;
  /** An event to commit with the run's next write (ctx.emit). */
  addEvent(event: EventRecord): void;
  enqueueTask(task: NewTask): void;
  requeueTask(op: Op, taskKey: string, visibleAt: number): void;
  recordCall(service: string, ok: boolean, latencyMs: number): void;
}
