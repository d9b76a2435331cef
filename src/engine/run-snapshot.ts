import { RunStatus, type ErrorData, type OpKind, type WaitingOn } from "../common/index.js";
import { describeOp } from "./journal.js";
import type { CompensationProgress } from "./core/run-core.js";
import type { Op, Wait } from "./op.js";

/** How a run ended. */
export interface Terminal {
  status: RunStatus;
  output?: unknown;
  error?: ErrorData;
}

/** What a run's row says besides its journal; written with the run's journal entries. */
export interface Snapshot {
  status: RunStatus;
  wakeAt: number | null;
  waitingOn: WaitingOn | null;
}

/**
 * The row of a run that has not ended, from its unsettled operations. `busy`: a delivery is
 * queued or being reacted to.
 */
export function liveSnapshot(
  ops: ReadonlyMap<number, Op>,
  busy: boolean,
  compensating: boolean,
): Snapshot {
  let first: Op | undefined;
  let wakeAt: number | null = null;
  for (const op of ops.values()) {
    if (op.settled || op.abandoned) continue;
    if (!op.wait) {
      if (op.kind === "step" || op.kind === "call") busy = true;
      continue;
    }
    // An event wait is the one the row must name: a publish finds the runs to wake by the topic
    // in waitingOn, while timers, signals, children and tasks wake their run by id or time.
    if (!first || (op.wait.kind === "event" && first.wait?.kind !== "event")) first = op;
    // A queued task wakes its run when a worker replies; its retry time is the queue's business.
    if (
      op.wait.kind !== "task" &&
      op.wait.until !== undefined &&
      (wakeAt === null || op.wait.until < wakeAt)
    )
      wakeAt = op.wait.until;
  }
  if (compensating)
    return { status: RunStatus.Compensating, wakeAt, waitingOn: first ? waitingOn(first) : null };
  if (busy || !first) return { status: RunStatus.Running, wakeAt, waitingOn: null };
  return { status: RunStatus.Waiting, wakeAt, waitingOn: waitingOn(first) };
}

/**
 * The row of a rollback stopped at a failed compensation: waiting for its next attempt (policy
 * `retry`) or for an operator (policy `event`), saying how to act on it.
 */
export function compensationWaitSnapshot(
  runId: string,
  current: Readonly<CompensationProgress>,
  op: { kind: OpKind; name: string } | undefined,
): Snapshot {
  const what = op ? describeOp(op.kind, op.name) : `seq ${current.seq}`;
  const lastError = current.lastError;
  const common = {
    seq: current.seq,
    compensates: current.seq,
    step: op?.name ?? "",
    ...(lastError ? { lastError } : {}),
  };
  if (current.state === "retry_wait") {
    const until = new Date(current.retryAt ?? 0).toISOString();
    return {
      status: RunStatus.Compensating,
      wakeAt: current.retryAt ?? null,
      waitingOn: {
        kind: "retry",
        ...common,
        attempt: current.attempt + 1,
        until,
        reason: `compensation of ${what} failed (${lastError?.message ?? "?"}); attempt ${current.attempt + 1} at ${until}, until it succeeds or an operator skips it`,
      },
    };
  }
  return {
    status: RunStatus.Compensating,
    wakeAt: null,
    waitingOn: {
      kind: "operator",
      ...common,
      reason: `compensation of ${what} failed for good (${lastError?.message ?? "?"}); an operator must retry it, skip it (POST /v1/runs/${runId}/compensations/${current.seq}/skip) or cancel the run`,
    },
  };
}

export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
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
    case "event": {
      const topic = op.eventWait?.topic ?? op.name;
      const where = op.eventWait?.where;
      return {
        kind: "event",
        seq: op.seq,
        topic,
        ...(where ? { where } : {}),
        reason:
          `waiting for event ${topic}` +
          (where ? ` where ${JSON.stringify(where)}` : "") +
          (until ? ` until ${until}` : ""),
        ...(until ? { until } : {}),
      };
    }
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

/** An operation in memory that the journal does not show yet (for the Run view). */
export interface LiveOp {
  seq: number;
  kind: OpKind;
  name: string;
  executing: boolean;
  attempt: number;
  wait?: Wait;
}

export function liveOps(ops: ReadonlyMap<number, Op>): LiveOp[] {
  const live: LiveOp[] = [];
  for (const op of ops.values()) {
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
