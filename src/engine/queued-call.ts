import { BatonError, decodeJson, idempotencyKey, type ErrorData } from "../common/index.js";
import { isTextOverLimit, outputTooLarge } from "./core/limits.js";
import type { TaskRecord } from "../store/index.js";
import { decideAfterFailure } from "./core/attempt-rules.js";
import type { Op, QueuedCall } from "./op.js";
import type { RunPort } from "./run-port.js";
import { describeOp } from "./journal.js";

export type { QueuedCall } from "./op.js";

/**
 * A call to a queue-served service. The command becomes a task in the same commit as the
 * `call.started` entry that records sending it; the reply arrives when a worker completes the
 * task, possibly after this process restarted — so on resume the task row is looked at first.
 * From enqueue to its settlement the call is in flight: a worker may hold it.
 */
export function startQueuedCall(run: RunPort, op: Op, call: QueuedCall): void {
  const key = idempotencyKey(run.runId, op.seq);
  op.taskKey = key;
  op.queued = call;
  op.failedSinceRetry = op.recorded?.failedAttemptsSinceRetry ?? 0;
  op.wait = { kind: "task", service: call.service };
  run.markInFlight(op, true);
  const started = op.recorded?.entries.some((e) => e.event === "started");
  if (!started) {
    const now = run.hostRef.clock.now();
    // The call's span covers enqueue to reply: the task names it as the worker's parent, and
    // the run ends it when the call settles, in whichever process that is (resumeQueued).
    const span = run.trace.startQueued(describeOp("call", op.name), op.seq);
    run.appendOp(op, "started", { service: call.service, command: call.command });
    run.enqueueTask({
      taskKey: key,
      service: call.service,
      command: call.command,
      input: call.input === undefined ? null : JSON.stringify(call.input),
      runId: run.runId,
      workflow: run.workflow,
      seq: op.seq,
      traceparent: run.trace.traceparentOf(span, op.seq, "queued"),
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
  lookAtTask(run, op, (task) => {
    // A retried run's call was ended (and its span with it) before: that span is not made again.
    if (!op.recorded?.voided)
      run.trace.resumeQueued(describeOp("call", op.name), op.seq, task.traceparent, task.createdAt);
    // A retried run asks again for the command whose failure (or lost reply) ended it.
    if (op.recorded?.voided && (task.status === "failed" || task.status === "expired")) {
      run.requeueTask(op, key, run.hostRef.clock.now());
      return;
    }
    onTaskUpdate(run, op, task);
  });
}

/**
 * The run rolls back while this call is out: withdraw its task (a task still queued is never
 * delivered; one a worker holds is awaited until it answers or its lease runs out), then look at
 * what the store says it became.
 */
export function settleQueuedCall(run: RunPort, op: Op): void {
  if (!op.taskKey || op.settled) return;
  run.writer.withdrawTask(op.taskKey);
  run.writer.requestWrite();
  lookAtTask(run, op, (task) => onTaskUpdate(run, op, task));
}

/** Once what the run appended is durable, reads the task row and hands it on. */
function lookAtTask(run: RunPort, op: Op, then: (task: TaskRecord) => void): void {
  const key = op.taskKey!;
  run
    .durable()
    .then(async (ok) => {
      if (!ok || op.settled) return;
      const task = await run.hostRef.findTask(key);
      if (task && !op.settled) then(task);
    })
    .catch((e: unknown) =>
      // The run stays as it is; the next notification or the node's rescan looks again.
      run.log.warn({ seq: op.seq, err: e }, "could not read a queued call's task"),
    );
}

/** A worker replied (or the task row says what became of it): complete, retry, or fail the call. */
export function onTaskUpdate(run: RunPort, op: Op, task: TaskRecord): void {
  const call = op.queued;
  if (!call || op.settled || op.abandoned) return;
  switch (task.status) {
    case "completed": {
      // A worker's reply past the limit: the call fails for good, as a step's output past it does
      // (docs/workflows.md, "Limits": its work was done, but with no output it is not compensated).
      if (task.output !== null && isTextOverLimit(task.output, run.limits.maxOutputBytes)) {
        run.complete(op, "failed", {
          error: outputTooLarge(
            `the reply of ${call.service}.${call.command} (seq ${op.seq})`,
            run.limits.maxOutputBytes,
          ),
          attempts: task.attempt,
        });
        run.recordCall(call.service, true, task.updatedAt - task.createdAt);
        return;
      }
      const output = decodeJson(task.output);
      run.complete(
        op,
        "completed",
        output === undefined ? { attempts: task.attempt } : { output, attempts: task.attempt },
      );
      run.recordCall(call.service, true, task.updatedAt - task.createdAt);
      return;
    }
    case "withdrawn":
      if (run.stopping && op.compensates === undefined) {
        run.complete(op, "failed", {
          error: {
            code: "WITHDRAWN",
            message: `${call.service}.${call.command} was withdrawn from the queue before any worker took it`,
          },
          attempts: task.attempt,
          withdrawn: true,
        });
      } else {
        // A retried run asks again for a command its rollback had withdrawn.
        run.requeueTask(op, task.taskKey, run.hostRef.clock.now());
      }
      return;
    case "expired":
      // No worker answered within the last lease it may have: the command may have taken effect.
      run.recordCall(call.service, false, task.updatedAt - task.createdAt);
      run.complete(op, "failed", {
        error: task.error ?? {
          code: "LEASE_EXPIRED",
          message: `no ${call.service} worker answered ${call.command} within its lease`,
        },
        attempts: task.attempt,
        unknown: true,
      });
      return;
    case "failed":
      break;
    case "queued":
    case "leased":
    case "withdrawing":
      return; // the reply is still to come
  }
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
  const decision = decideAfterFailure({
    error,
    attempt: Math.max(failed, task.attempt),
    policy: call.policy,
    stopping: run.stopping && op.compensates === undefined,
    now: run.hostRef.clock.now(),
    random: Math.random(),
  });
  if (decision.kind === "retry") {
    const retryAt = decision.retryAt;
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
