import type { ErrorData, OpKind } from "../common/index.js";
import type { JournalEntry } from "../store/index.js";
import {
  NOTHING_RECORDED,
  type CompensationDecision,
  type RecordedRollback,
} from "./core/run-core.js";

/**
 * Journal entry types. An operation's entries are `{kind}.{event}`; run-level entries have no
 * seq. Completions (completed / failed / received) are what replay delivers, in journal order.
 */
export const Entry = {
  RunStarted: "run.started",
  RunCancelRequested: "run.cancel_requested",
  /** The run's deadline passed: from here on it rolls back. */
  RunDeadlineExceeded: "run.deadline_exceeded",
  /** Phase marker: from here on the workflow is abandoned and compensations run. */
  RunCompensating: "run.compensating",
  RunCancelling: "run.cancelling",
  RunCompleted: "run.completed",
  RunCompensated: "run.compensated",
  RunFailed: "run.failed",
  RunCancelled: "run.cancelled",
  /** A failed run resumed; `voidSeqs` lose the failed completion that ended the run. */
  RunRetried: "run.retried",
  /** A compensation failed for good, and what its policy decided (core/run-core.ts). */
  CompensationFailed: "compensation.failed",
  /** A failed compensation runs again: after its retry wait, or on an operator's retry. */
  CompensationResumed: "compensation.resumed",
  /** An operator skipped a failed compensation. */
  CompensationSkipped: "compensation.skipped",
} as const;

export type OpEvent =
  "started" | "awaited" | "attempt_failed" | "completed" | "failed" | "received" | "recorded";

export function opEntryType(kind: OpKind, event: OpEvent): string {
  return `${kind}.${event}`;
}

export function splitEntryType(type: string): { kind: string; event: string } {
  const dot = type.indexOf(".");
  return { kind: type.slice(0, dot), event: type.slice(dot + 1) };
}

export function isCompletionEvent(event: string): boolean {
  return event === "completed" || event === "failed" || event === "received";
}

/** Data of an operation's entries, as JSON in the journal. */
export interface OpEntryData {
  output?: unknown;
  error?: ErrorData;
  attempt?: number;
  attempts?: number;
  retryAt?: number;
  fireAt?: number;
  timeoutAt?: number;
  signalId?: number;
  /** event waits: the log position the wait began after, its topic and where; the event taken. */
  after?: number;
  topic?: string;
  where?: Record<string, unknown>;
  eventId?: string;
  position?: number;
  childRunId?: string;
  workflow?: string;
  value?: unknown;
  startedAt?: number;
  compensates?: number;
  service?: string;
  command?: string;
  /** A failed completion whose command may have taken effect all the same (no answer came). */
  unknown?: boolean;
  /** A failed completion of a queued command that was withdrawn before any worker took it. */
  withdrawn?: boolean;
  /** A patch marker written by `ctx.deprecatePatch`. */
  deprecated?: boolean;
}

export interface RecordedOp {
  kind: OpKind;
  name: string;
  entries: Array<{ event: string; data: OpEntryData; at: number }>;
  /** The completion's index in `deliveries`, if the operation completed. */
  completion?: { event: string; data: OpEntryData; at: number };
  /** Attempts that failed since the run was last retried (the budget left). */
  failedAttemptsSinceRetry: number;
  failedAttempts: number;
  lastRetryAt?: number | undefined;
  /** A retry of the run voided this operation's failure: it runs again. */
  voided?: boolean;
}

/**
 * What replay hands back, in journal order: operations' completions, and the run-level facts
 * that changed the run's course where they happened (a cancel, the deadline, the rollback's start).
 */
export type Delivery =
  | { type: "op"; seq: number }
  | { type: "marker" }
  | { type: "cancel"; reason: string }
  | { type: "deadline" };

/**
 * What a run's journal says, indexed for replay: every operation by seq, and the order in which
 * completions and phase markers must be delivered back to the workflow.
 */
export class ReplayIndex {
  readonly ops = new Map<number, RecordedOp>();
  readonly deliveries: Delivery[] = [];
  /** When the run's deadline passes (ms), if it has one. */
  deadlineAt: number | undefined;
  /** The trace context the run was started with, if any: every span of the run joins it. */
  traceparent: string | undefined;
  /** What the journal decided about the run's rollback; shared and empty for most runs. */
  rollback: RecordedRollback = NOTHING_RECORDED;
  /** Why the run last failed, if it did and was retried. */
  readonly voided = new Set<number>();
  lastFailure: { causeSeq?: number; error?: ErrorData } | undefined;
  /** The run's rollback began (a phase marker) since it last started or was retried. */
  rolledBack = false;
  length = 0;

  constructor(entries: readonly JournalEntry[]) {
    // A retry voids the failed completions that ended the run; find those first.
    const voidBefore = new Map<number, number>();
    for (const entry of entries) {
      if (entry.type === Entry.RunRetried) {
        const data = parse(entry.data) as { voidSeqs?: number[] };
        for (const seq of data.voidSeqs ?? []) voidBefore.set(seq, entry.position);
      }
    }
    for (const entry of entries) {
      this.length = entry.position + 1;
      if (entry.seq === null) {
        this.addRunEntry(entry);
        continue;
      }
      const { kind, event } = splitEntryType(entry.type);
      const data = parse(entry.data) as OpEntryData;
      let op = this.ops.get(entry.seq);
      if (!op) {
        op = {
          kind: kind as OpKind,
          name: entry.name ?? "",
          entries: [],
          failedAttemptsSinceRetry: 0,
          failedAttempts: 0,
        };
        this.ops.set(entry.seq, op);
      }
      const voidedAt = voidBefore.get(entry.seq);
      if (event === "attempt_failed") {
        op.failedAttempts++;
        if (voidedAt === undefined || entry.position > voidedAt) op.failedAttemptsSinceRetry++;
        op.lastRetryAt = data.retryAt;
      }
      if (isCompletionEvent(event)) {
        if (voidedAt !== undefined && entry.position < voidedAt && event === "failed") {
          this.voided.add(entry.seq);
          op.voided = true;
          op.entries.push({ event: "voided", data, at: entry.at });
          continue;
        }
        op.completion = { event, data, at: entry.at };
        this.deliveries.push({ type: "op", seq: entry.seq });
      }
      op.entries.push({ event, data, at: entry.at });
    }
  }

  private recorded(): {
    decisions: Map<string, CompensationDecision>;
    resumed: Set<string>;
    operatorSkips: Set<number>;
  } {
    if (this.rollback === NOTHING_RECORDED)
      this.rollback = { decisions: new Map(), resumed: new Set(), operatorSkips: new Set() };
    return this.rollback as ReturnType<ReplayIndex["recorded"]>;
  }

  private addRunEntry(entry: JournalEntry): void {
    switch (entry.type) {
      case Entry.RunStarted: {
        const data = parse(entry.data) as { deadlineAt?: unknown; traceparent?: unknown } | null;
        if (typeof data?.deadlineAt === "number") this.deadlineAt = data.deadlineAt;
        if (typeof data?.traceparent === "string") this.traceparent = data.traceparent;
        break;
      }
      case Entry.RunCancelRequested:
        this.deliveries.push({
          type: "cancel",
          reason: (parse(entry.data) as { reason?: string }).reason ?? "cancelled",
        });
        break;
      case Entry.RunDeadlineExceeded:
        this.deliveries.push({ type: "deadline" });
        break;
      case Entry.RunCompensating:
      case Entry.RunCancelling:
        this.rolledBack = true;
        this.deliveries.push({ type: "marker" });
        break;
      case Entry.RunRetried:
        this.rolledBack = false;
        // A retried run decides its rollback afresh: what was decided before is void.
        this.rollback = NOTHING_RECORDED;
        break;
      case Entry.CompensationFailed: {
        const data = parse(entry.data) as CompensationDecision;
        this.recorded().decisions.set(`${data.seq}:${data.attempt}`, data);
        break;
      }
      case Entry.CompensationResumed: {
        const data = parse(entry.data) as { seq: number; attempt: number };
        this.recorded().resumed.add(`${data.seq}:${data.attempt}`);
        break;
      }
      case Entry.CompensationSkipped: {
        const data = parse(entry.data) as CompensationDecision & { by?: string };
        // Skipped by its policy: a decision about that attempt; by an operator: about the wait.
        if (data.by === "policy")
          this.recorded().decisions.set(`${data.seq}:${data.attempt}`, {
            ...data,
            decision: "skip",
          });
        else this.recorded().operatorSkips.add(data.seq);
        break;
      }
      case Entry.RunFailed:
        this.lastFailure = parse(entry.data) as { causeSeq?: number; error?: ErrorData };
        break;
      default:
        break;
    }
  }
}

function parse(data: string | null): unknown {
  return data === null ? {} : JSON.parse(data);
}

/** Describes an operation for error messages: "call payments.charge". */
export function describeOp(kind: string, name: string): string {
  return `${kind} ${name}`;
}

/** Signal names Baton keeps for itself (users' signals may not start with it). */
export const RESERVED_SIGNAL_PREFIX = "baton:";
/** A cancel request travels as this signal, so any node can deliver it durably. */
export const CANCEL_SIGNAL = `${RESERVED_SIGNAL_PREFIX}cancel`;
/** An operator's action on a failed compensation (`{action: "retry" | "skip", seq}`). */
export const OPERATOR_SIGNAL = `${RESERVED_SIGNAL_PREFIX}operator`;
/** Wakes a run on whichever node holds it (a retry sent through another node); carries nothing. */
export const WAKE_SIGNAL = `${RESERVED_SIGNAL_PREFIX}wake`;
