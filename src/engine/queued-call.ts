import { decodeJson, idempotencyKey, traceparentFor, type ErrorData } from "../common/index.js";
import type { TaskRecord } from "../store/index.js";
import type { QueueTransport } from "../transport/index.js";
import { isRetryable, backoffMs, type ResolvedRetryPolicy } from "./retry.js";
import type { Op } from "./op.js";
import type { RunExecution } from "./run-execution.js";
import { BatonError } from "../common/index.js";

export interface QueuedCall {
  service: string;
  command: string;
  input: unknown;
  transport: QueueTransport;
  policy: ResolvedRetryPolicy;
  /** Bound of one delivery, from a worker's claim to its reply (ms). */
  timeoutMs?: number;
  /** How long the command may wait queued before a worker claims it (ms). */
  queueTimeoutMs?: number;
}

/**
 * A call to a queue-served service. The command becomes a task in the same commit as the
 * `call.started` entry that records sending it; the reply arrives when a worker completes the
 * task, possibly after this process restarted — so on resume the task row is looked at first.
 */
export function startQueuedCall(run: RunExecution, op: Op, call: QueuedCall): void {
  const key = idempotencyKey(run.runId, op.seq);
  op.taskKey = key;
  op.queued = call;
  op.failedSinceRetry = op.recorded?.failedAttemptsSinceRetry ?? 0;
  op.wait = { kind: "task", service: call.service };
  const started = op.recorded?.entries.some((e) => e.event === "started");
  if (!started) {
    const now = run.hostRef.clock.now();
    run.appendOp(op, "started", { service: call.service, command: call.command });
    run.enqueueTask({
      taskKey: key,
      service: call.service,
      command: call.command,
      input: call.input === undefined ? null : JSON.stringify(call.input),
      runId: run.runId,
      workflow: run.workflow,
      seq: op.seq,
      traceparent: traceparentFor(run.runId, op.seq),
      leaseMs: call.transport.leaseMs,
      maxAttempts: deliveryLimit(call.policy.maxAttempts),
      timeoutMs: boundMs(call.timeoutMs),
      queueTimeoutMs: boundMs(call.queueTimeoutMs),
      visibleAt: now,
      createdAt: now,
    });
    return;
  }
  // Resumed: the worker may have replied while this run was away.
  void run.durable().then(async (ok) => {
    if (!ok) return;
    const task = await run.hostRef.findTask(key);
    if (!task) return;
    if (op.recorded?.voided && task.status === "failed") {
      run.requeueTask(op, key, run.hostRef.clock.now());
      return;
    }
    onTaskUpdate(run, op, task);
  });
}

/** A worker replied (or the task row says it did): complete, retry, or fail the call. */
export function onTaskUpdate(run: RunExecution, op: Op, task: TaskRecord): void {
  const call = op.queued;
  if (!call || op.settled || op.abandoned) return;
  if (task.status === "completed") {
    const output = decodeJson(task.output);
    run.complete(
      op,
      "completed",
      output === undefined ? { attempts: task.attempt } : { output, attempts: task.attempt },
    );
    run.recordCall(call.service, true, task.updatedAt - task.createdAt);
    return;
  }
  if (task.status === "withdrawn") {
    run.requeueTask(op, task.taskKey, run.hostRef.clock.now());
    return;
  }
  // expired: a delivery ran out of lease or time with no reply, and none may follow — the
  // outcome is unknown, so it is never retried. A QUEUE_TIMEOUT failure (never delivered)
  // goes through the retry decision below like any retryable failure.
  if (task.status !== "failed" && task.status !== "expired") return;
  const errorData: ErrorData = task.error ?? {
    code: "STEP_FAILED",
    message: "the worker reported a failure",
  };
  const error = new BatonError(errorData.code, errorData.message, {
    retryable: task.retryable ?? true,
    details: errorData.details,
  });
  run.recordCall(call.service, false, task.updatedAt - task.createdAt);
  const failed = (op.failedSinceRetry ?? 0) + 1;
  op.failedSinceRetry = failed;
  if (
    task.status === "failed" &&
    isRetryable(error, call.policy) &&
    failed < call.policy.maxAttempts &&
    !run.stopping
  ) {
    const retryAt = run.hostRef.clock.now() + backoffMs(call.policy, failed, Math.random());
    run.appendOp(op, "attempt_failed", { attempt: task.attempt, error: errorData, retryAt });
    run.requeueTask(op, task.taskKey, retryAt);
    op.wait = {
      kind: "task",
      service: call.service,
      lastError: errorData,
      attempt: task.attempt + 1,
      until: retryAt,
    };
    return;
  }
  run.complete(op, "failed", { error: errorData, attempts: task.attempt });
}

/** The store keeps whole numbers: "retry forever" (Infinity, NaN) is the largest it holds. */
function deliveryLimit(maxAttempts: number): number {
  return Number.isFinite(maxAttempts) ? Math.max(1, Math.floor(maxAttempts)) : 2_147_483_647;
}

/** A bound in whole ms (never shorter than asked); none for undefined or a non-finite value. */
function boundMs(ms: number | undefined): number | null {
  return ms !== undefined && Number.isFinite(ms) ? Math.max(0, Math.ceil(ms)) : null;
}
