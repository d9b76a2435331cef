import { StepFailedError, findNonJson, type Logger, type Task } from "../common/index.js";
import type { BatonClient, TaskFailure } from "../client/index.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { reportOutcome, type TaskOutcome } from "./reporting.js";
import type { TaskContext, TaskHandler } from "./types.js";

export interface ExecutionSettings {
  client: BatonClient;
  workerId: string;
  handlers: Record<string, TaskHandler>;
  /** undefined: renewal off; `{}`: a third of the lease; `{ intervalMs }`: fixed. */
  leaseRenewal: { intervalMs?: number } | undefined;
  log: Logger;
  /** Aborts when the worker's stop runs out of patience: handlers and reports give up. */
  giveUp: AbortSignal;
}

const REPORTABLE_CODE = /^[A-Z][A-Z0-9_]{0,99}$/;

/**
 * Runs one delivered task to the end: calls its handler under a kept lease, then reports the
 * outcome. Never rejects: every failure is reported to the orchestrator or logged.
 */
export async function executeTask(task: Task, settings: ExecutionSettings): Promise<void> {
  const log = settings.log.child({
    taskId: task.taskId,
    runId: task.runId,
    command: task.command,
    attempt: task.attempt,
  });
  const handler = Object.hasOwn(settings.handlers, task.command)
    ? settings.handlers[task.command]
    : undefined;
  if (!handler) {
    const known = Object.keys(settings.handlers).join(", ") || "none";
    const message = `worker ${settings.workerId} of service ${task.service} has no handler for command ${task.command} (it handles: ${known})`;
    log.error({}, message);
    const failure = {
      error: { message, type: "CommandNotFound", code: "COMMAND_NOT_FOUND" },
      retryable: false,
    };
    await reportOutcome(settings.client, task, { kind: "failed", failure }, settings.giveUp, log);
    return;
  }

  const controller = new AbortController();
  const abortOnGiveUp = (): void => controller.abort(settings.giveUp.reason);
  if (settings.giveUp.aborted) abortOnGiveUp();
  else settings.giveUp.addEventListener("abort", abortOnGiveUp, { once: true });
  const lease = new LeaseKeeper(
    settings.client,
    task.taskId,
    task.leaseExpiresAt,
    settings.leaseRenewal?.intervalMs,
    (lost) => controller.abort(lost),
    log,
  );
  if (settings.leaseRenewal) lease.start();
  const ctx: TaskContext = {
    taskId: task.taskId,
    idempotencyKey: task.idempotencyKey,
    attempt: task.attempt,
    runId: task.runId,
    workflow: task.workflow,
    service: task.service,
    command: task.command,
    traceparent: task.traceparent,
    signal: controller.signal,
    heartbeat: (details) => lease.beat(details),
    log,
  };

  let outcome: TaskOutcome;
  try {
    outcome = outputOutcome(
      await (handler as (input: unknown, ctx: TaskContext) => unknown)(task.input, ctx),
    );
  } catch (e) {
    outcome = { kind: "failed", failure: failureOf(e) };
  } finally {
    lease.stop();
    settings.giveUp.removeEventListener("abort", abortOnGiveUp);
  }
  if (lease.isLost) {
    log.warn(
      {},
      "lease lost while the handler ran; its result is dropped and the task runs again elsewhere",
    );
    return;
  }
  await reportOutcome(settings.client, task, outcome, settings.giveUp, log);
}

/**
 * An output must survive the trip through JSON unchanged, as a step's must: a Date or a Map
 * would reach the run as something else, so it fails the task (for good) instead.
 */
function outputOutcome(output: unknown): TaskOutcome {
  const problem = output === undefined ? undefined : findNonJson(output, "output");
  if (!problem) return { kind: "completed", output };
  return {
    kind: "failed",
    failure: {
      error: {
        message: `the handler returned a value that is not JSON: ${problem}`,
        type: "TypeError",
        code: "OUTPUT_NOT_JSON",
      },
      retryable: false,
    },
  };
}

/** A StepFailedError, or any error that says `retryable: false`, is not retried. */
function failureOf(e: unknown): TaskFailure {
  const error =
    e instanceof Error
      ? e
      : new Error(typeof e === "string" ? e : `non-error thrown: ${String(e)}`);
  const ownCode = (e as { code?: unknown } | null)?.code;
  const retryable =
    !(e instanceof StepFailedError) && (e as { retryable?: unknown } | null)?.retryable !== false;
  return {
    error: {
      message: error.message || error.name,
      type: error.name.slice(0, 200),
      ...(typeof ownCode === "string" && REPORTABLE_CODE.test(ownCode) ? { code: ownCode } : {}),
    },
    retryable,
  };
}
