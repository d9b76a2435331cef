import { BatonError, type ErrorData, type OpKind, type TimerHandle } from "../common/index.js";
import type { QueueTransport } from "../transport/index.js";
import type { CompensationFailurePolicy } from "./core/run-core.js";
import { describeOp, type OpEntryData, type RecordedOp } from "./journal.js";
import type { ResolvedRetryPolicy } from "./retry.js";

/** A call to a queue-served service: what becomes its task, and how it is retried. */
export interface QueuedCall {
  service: string;
  command: string;
  input: unknown;
  transport: QueueTransport;
  policy: ResolvedRetryPolicy;
  /** Bound of one delivery, from a worker's claim to its reply (ms). */
  timeoutMs?: number | undefined;
  /** How long the command may wait for a worker to claim it (ms). */
  queueTimeoutMs?: number | undefined;
}

/** What an unsettled operation waits on, for the run's status and `waitingOn`. */
export interface Wait {
  kind: "timer" | "signal" | "child" | "retry" | "task" | "event";
  until?: number;
  attempt?: number;
  lastError?: ErrorData;
  service?: string;
}

/** A wait for an event (ctx.waitForEvent). */
export interface EventWait {
  topic: string;
  where: Record<string, unknown> | undefined;
  /**
   * Events after this log position count. Journaled when the wait begins; in memory it moves past
   * what was read without a match. -1 until the wait's start is known.
   */
  after: number;
  checking: boolean;
  checkAgain: boolean;
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
  /** Compensate also when the outcome stays unknown (the compensation gets `undefined`). */
  compensateUnknown?: boolean;
  onCompensationFailure?: CompensationFailurePolicy;
  /** Replay stopped the run here with this operation's command possibly out: settle it after. */
  settleAfterReplay?: boolean;
  /** The last attempt's outcome is unknown (it timed out): it may have taken effect. */
  lastOutcomeUnknown?: boolean;
  compensates?: number;
  signalName?: string;
  /** ctx.waitForEvent: what it waits for, and how far it has read the log. */
  eventWait?: EventWait;
  childRunId?: string;
  /** Starts the live work of an operation that the journal does not finish. */
  goLive?: () => void;
  /** Calls to queue-served services: the task's key and how to retry it. */
  taskKey?: string;
  queued?: QueuedCall;
  failedSinceRetry?: number;
}

/**
 * The errors that failed operations reject with. Each remembers its operation's seq, so that
 * when the workflow throws it (or an error caused by it), the run's failure names its cause.
 */
export class OpErrors {
  private readonly seqs = new WeakMap<object, number>();

  create(op: Op, data: ErrorData | undefined): BatonError {
    const code = data?.code ?? "STEP_FAILED";
    const message = data?.message ?? "failed";
    const error = new BatonError(
      code,
      `${describeOp(op.kind, op.name)} (seq ${op.seq}) failed: ${message}`,
      {
        details: { seq: op.seq, kind: op.kind, name: op.name, ...(asObject(data?.details) ?? {}) },
      },
    );
    this.seqs.set(error, op.seq);
    return error;
  }

  seqOf(error: unknown): number | undefined {
    for (
      let e: unknown = error, depth = 0;
      typeof e === "object" && e !== null && depth < 8;
      depth++
    ) {
      const seq = this.seqs.get(e);
      if (seq !== undefined) return seq;
      e = (e as { cause?: unknown }).cause;
    }
    return undefined;
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
