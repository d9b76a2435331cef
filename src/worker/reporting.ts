import { toBatonError, type BatonError, type Logger, type Task } from "../common/index.js";
import { BatonClientError, type BatonClient, type TaskFailure } from "../client/index.js";
import { backoffMs, pause } from "./backoff.js";

/** What a handler's run came to. */
export type TaskOutcome =
  { kind: "completed"; output: unknown } | { kind: "failed"; failure: TaskFailure };

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

/**
 * Reports a task's outcome, retrying while the orchestrator cannot take it (unreachable, 5xx,
 * auth being fixed): the result is the valuable part of a task and is never dropped for a
 * passing outage. It is given up only when the orchestrator says the delivery is gone (404,
 * 409: the lease was lost and another delivery owns the task) or when `giveUp` aborts; either
 * way the task is delivered again, so at-least-once holds.
 */
export async function reportOutcome(
  client: BatonClient,
  task: Task,
  outcome: TaskOutcome,
  giveUp: AbortSignal,
  log: Logger,
): Promise<void> {
  if (outcome.kind === "completed") {
    const { output } = outcome;
    const refused = await deliver(
      () => client.completeTask(task.taskId, output),
      "completion",
      giveUp,
      log,
    );
    if (!refused) return;
    // The server refused the output itself (too large, not acceptable): retrying cannot change
    // that, so the run hears of it as a failure instead of waiting for a redelivery.
    outcome = {
      kind: "failed",
      failure: {
        error: {
          message: `the output was refused: ${refused.message}`,
          type: refused.name,
          code: refused.code,
        },
        retryable: false,
      },
    };
  }
  const failure = outcome.failure;
  const refused = await deliver(
    () => client.failTask(task.taskId, failure),
    "failure",
    giveUp,
    log,
  );
  if (refused)
    log.error(
      { err: refused },
      "the orchestrator refused the failure report; the task will be delivered again",
    );
}

/**
 * Sends one report until it lands. Resolves with the error when the server refuses the report
 * for good, undefined once it is delivered or given up.
 */
async function deliver(
  send: () => Promise<void>,
  what: string,
  giveUp: AbortSignal,
  log: Logger,
): Promise<BatonError | undefined> {
  for (let failures = 1; ; failures++) {
    try {
      await send();
      if (failures > 1) log.info({ attempts: failures }, `${what} delivered`);
      return undefined;
    } catch (e) {
      const error = toBatonError(e);
      const status = error instanceof BatonClientError ? error.httpStatus : undefined;
      if (status === 404 || status === 409) {
        log.warn({ code: error.code }, `${what} not recorded: ${error.message}`);
        return undefined;
      }
      if (isRefusal(status)) return error;
      if (giveUp.aborted) {
        log.warn(
          { err: error },
          `${what} abandoned while stopping; the task will be delivered again`,
        );
        return undefined;
      }
      const level = failures === 1 ? "warn" : "debug";
      log[level](
        { code: error.code, attempt: failures },
        `${what} not delivered yet, retrying: ${error.message}`,
      );
      await pause(backoffMs(failures, FIRST_RETRY_MS, MAX_RETRY_MS), giveUp);
    }
  }
}

/**
 * A 4xx that judges the report itself (400, 413, 415, 422): sending it again cannot help.
 * 401/403 are not among them, as a token can be fixed on the server while the worker waits.
 */
function isRefusal(status: number | undefined): boolean {
  return (
    status !== undefined &&
    status >= 400 &&
    status < 500 &&
    ![401, 403, 404, 408, 409, 429].includes(status)
  );
}
