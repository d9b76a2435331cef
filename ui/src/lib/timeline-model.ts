import type { ErrorData, HistoryEvent, Run, StepView } from "baton/client";

/**
 * What the run page draws, computed from the Run (its steps) and its journal (history): one
 * bar per step on a shared time axis, the attempts that failed on the way, backoff waits,
 * failures a retry of the run voided, and run-level moments (compensating, retried…).
 * Pure, so it is tested without a browser.
 */

export type Outcome = "completed" | "failed" | "running" | "waiting" | "unfinished";

export interface AttemptFailure {
  at: number;
  attempt: number;
  error?: ErrorData;
  /** When the next attempt was due. */
  retryAt?: number;
}

export interface TimelineRow {
  seq: number;
  kind: StepView["kind"];
  name: string;
  status: StepView["status"];
  outcome: Outcome;
  attempts: number;
  /** ms since the epoch. */
  start: number;
  end: number;
  /** The step has not ended: its bar runs to now (or to the run's end, if it ended first). */
  isOpen: boolean;
  /** A wait rather than work: a timer, a signal, a child run. */
  isWait: boolean;
  compensates?: number;
  /** The name of the step this one compensates. */
  compensatesName?: string;
  failures: AttemptFailure[];
  /** Failures that a retry of the run set aside: the step ran again after them. */
  voidedFailures: Array<{ at: number; error?: ErrorData }>;
  /** When the attempt that ended the step began (the earlier ones failed). */
  lastAttemptStart?: number;
  error?: ErrorData;
  output?: unknown;
  childRunId?: string;
  /** sleep: when the timer fires; signal: when the wait times out. */
  dueAt?: number;
}

export interface RunMarker {
  at: number;
  type: string;
  label: string;
}

export interface Timeline {
  start: number;
  end: number;
  rows: TimelineRow[];
  compensations: TimelineRow[];
  markers: RunMarker[];
}

const WAIT_KINDS = new Set(["sleep", "signal", "child"]);

const MARKER_LABELS: Record<string, string> = {
  "run.cancel_requested": "cancel requested",
  "run.compensating": "compensating",
  "run.cancelling": "cancelling",
  "run.retried": "retried",
  "run.failed": "failed",
  "run.completed": "completed",
  "run.compensated": "compensated",
  "run.cancelled": "cancelled",
};

const TERMINAL_STATUSES = new Set(["completed", "compensated", "failed", "cancelled"]);

interface OpData {
  attempt?: number;
  error?: ErrorData;
  retryAt?: number;
  startedAt?: number;
  childRunId?: string;
  fireAt?: number;
  timeoutAt?: number;
  voidSeqs?: number[];
}

function dataOf(event: HistoryEvent): OpData {
  const { data } = event;
  return typeof data === "object" && data !== null ? data : {};
}

export function buildTimeline(run: Run, history: readonly HistoryEvent[], now: number): Timeline {
  const isEnded = TERMINAL_STATUSES.has(run.status);
  const runStart = Date.parse(run.createdAt);
  const runEnd = isEnded ? Date.parse(run.updatedAt) : Math.max(now, Date.parse(run.updatedAt));

  // Which failures a retry of the run voided: those of `voidSeqs` journaled before the retry.
  const voidedBefore = new Map<number, number>();
  for (const event of history) {
    if (event.type !== "run.retried") continue;
    for (const seq of dataOf(event).voidSeqs ?? []) voidedBefore.set(seq, event.position);
  }

  const bySeq = new Map<number, HistoryEvent[]>();
  for (const event of history) {
    if (event.seq === undefined) continue;
    const list = bySeq.get(event.seq);
    if (list) list.push(event);
    else bySeq.set(event.seq, [event]);
  }

  const names = new Map(run.steps.map((step) => [step.seq, step.name]));
  const rows = run.steps.map((step) => {
    const events = bySeq.get(step.seq) ?? [];
    const voidedAt = voidedBefore.get(step.seq);
    const failures: AttemptFailure[] = [];
    const voidedFailures: TimelineRow["voidedFailures"] = [];
    let lastAttemptStart: number | undefined;
    let childRunId: string | undefined;
    let dueAt: number | undefined;
    for (const event of events) {
      const data = dataOf(event);
      const at = Date.parse(event.at);
      const eventName = event.type.slice(event.type.indexOf(".") + 1);
      if (data.childRunId !== undefined) childRunId = data.childRunId;
      if (data.fireAt !== undefined) dueAt = data.fireAt;
      if (data.timeoutAt !== undefined) dueAt = data.timeoutAt;
      if (eventName === "attempt_failed") {
        failures.push({
          at,
          attempt: data.attempt ?? failures.length + 1,
          ...(data.error ? { error: data.error } : {}),
          ...(data.retryAt !== undefined ? { retryAt: data.retryAt } : {}),
        });
      } else if (eventName === "failed" && voidedAt !== undefined && event.position < voidedAt) {
        voidedFailures.push({ at, ...(data.error ? { error: data.error } : {}) });
      } else if (
        (eventName === "completed" || eventName === "failed") &&
        data.startedAt !== undefined
      ) {
        lastAttemptStart = data.startedAt;
      }
    }
    const start = step.startedAt ? Date.parse(step.startedAt) : runEnd;
    const isOpen = step.endedAt === undefined;
    const end = isOpen ? runEnd : Date.parse(step.endedAt!);
    const outcome: Outcome =
      step.status === "completed"
        ? "completed"
        : step.status === "failed"
          ? "failed"
          : isEnded
            ? "unfinished"
            : step.status;
    const row: TimelineRow = {
      seq: step.seq,
      kind: step.kind,
      name: step.name,
      status: step.status,
      outcome,
      attempts: step.attempts,
      start,
      end: Math.max(start, end),
      isOpen,
      isWait: WAIT_KINDS.has(step.kind),
      failures,
      voidedFailures,
    };
    if (step.compensates !== undefined) {
      row.compensates = step.compensates;
      const target = names.get(step.compensates);
      if (target !== undefined) row.compensatesName = target;
    }
    if (lastAttemptStart !== undefined && (failures.length > 0 || voidedFailures.length > 0)) {
      row.lastAttemptStart = lastAttemptStart;
    }
    if (step.error) row.error = step.error;
    if (step.output !== undefined) row.output = step.output;
    if (childRunId !== undefined) row.childRunId = childRunId;
    if (dueAt !== undefined) row.dueAt = dueAt;
    return row;
  });

  const markers: RunMarker[] = history
    .filter((event) => event.seq === undefined && MARKER_LABELS[event.type] !== undefined)
    .map((event) => ({
      at: Date.parse(event.at),
      type: event.type,
      label: MARKER_LABELS[event.type]!,
    }));

  const times = [runStart, runEnd, ...rows.map((r) => r.end), ...markers.map((m) => m.at)];
  return {
    start: runStart,
    end: Math.max(...times),
    rows: rows.filter((row) => row.compensates === undefined),
    compensations: rows.filter((row) => row.compensates !== undefined),
    markers,
  };
}

/** Round tick positions for an axis `span` ms long: 1, 2 or 5 × 10^k apart, about `target` of them. */
export function axisTicks(span: number, target = 6): number[] {
  if (!(span > 0)) return [0];
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = 0; t <= span + step * 1e-9; t += step) ticks.push(t);
  return ticks;
}

/** A position on the axis, in percent of its width. */
export function percentOf(time: number, timeline: Pick<Timeline, "start" | "end">): number {
  const span = timeline.end - timeline.start;
  return span > 0 ? ((time - timeline.start) / span) * 100 : 0;
}
