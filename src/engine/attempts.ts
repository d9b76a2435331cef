import {
  BatonError,
  LeaseLostError,
  TransientError,
  findNonJson,
  toBatonError,
  type Clock,
} from "../common/index.js";
import { describeOp } from "./journal.js";
import { isValueOverLimit, outputTooLarge } from "./core/limits.js";
import type { Op, Wait } from "./op.js";
import { decideAfterFailure, isUnknownOutcome } from "./core/attempt-rules.js";
import type { ResolvedRetryPolicy } from "./retry.js";
import type { RunPort } from "./run-port.js";
import { OFF, endSpan, isTracingOn, runInSpan, type Span } from "./tracing.js";

/**
 * Runs a step's or call's attempts under its retry policy, then completes the operation. Each
 * attempt has a span (`step {name}`, `call {service}.{command}`); `client` makes it a client span.
 */
export async function runAttempts(
  run: RunPort,
  op: Op,
  policy: ResolvedRetryPolicy,
  timeoutMs: number | undefined,
  body: AttemptBody,
  client = false,
): Promise<void> {
  const host = run.hostRef;
  let attempt = (op.recorded?.failedAttemptsSinceRetry ?? 0) + 1;
  let attempts = op.recorded?.failedAttempts ?? 0;
  const resumeAt = op.recorded?.lastRetryAt;
  if (
    attempt > 1 &&
    resumeAt !== undefined &&
    !(await waitUntil(run, op, resumeAt, { kind: "retry", attempt }))
  )
    return;
  for (;;) {
    if (run.writer.hasUncommitted && !(await run.durable())) return;
    if (op.abandoned || run.halted || op.settled) return;
    // A node whose lease ran out may no longer own this run: it must not act for it.
    if (!host.holdsLease()) {
      run.writer.onCommitFailed(
        new LeaseLostError(
          `run ${run.runId}: this node's lease lapsed before ${op.name} could run`,
        ),
      );
      return;
    }
    op.executing = true;
    op.attempt = attempts + 1;
    run.executing++;
    // From here until it answers, the attempt may take effect: a rollback waits for it.
    run.markInFlight(op, true);
    // Back from a retry wait: the row must stop saying the run waits (and when to wake it).
    if (attempt > 1) run.writer.requestWriteIfStale();
    const startedAt = host.clock.now();
    // With no SDK registered, no span and no run trace are made for a step at all.
    const span = isTracingOn()
      ? run.trace.start(describeOp(op.kind, op.name), op.seq, attempt, client)
      : OFF;
    let output: unknown;
    let error: BatonError | undefined;
    try {
      output = await attemptOnce(host.clock, op, attempt, timeoutMs, span, body);
    } catch (e) {
      error = toBatonError(e);
    }
    endSpan(span, error?.toJSON());
    op.executing = false;
    run.executing--;
    if (run.halted) return;
    attempts++;
    if (!error) {
      const problem = findNonJson(output, "output");
      if (
        (!problem || output === undefined) &&
        isValueOverLimit(output, run.limits.maxOutputBytes)
      ) {
        // Not retried: the same work would return the same size again.
        const tooLarge = outputTooLarge(
          `the output of ${describeOp(op.kind, op.name)} (seq ${op.seq})`,
          run.limits.maxOutputBytes,
        );
        error = new BatonError(tooLarge.code, tooLarge.message, {
          retryable: false,
          details: tooLarge.details,
        });
      } else if (!problem || output === undefined) {
        run.complete(
          op,
          "completed",
          output === undefined ? { attempts, startedAt } : { output, attempts, startedAt },
        );
        run.onAttemptEnded();
        return;
      } else {
        error = new BatonError("OUTPUT_NOT_JSON", `returned a value that is not JSON: ${problem}`);
      }
    }
    const decision = decideAfterFailure({
      error,
      attempt,
      policy,
      // A compensation's own operations retry by their policy while the run rolls back.
      stopping: (run.stopping && op.compensates === undefined) || op.abandoned,
      now: host.clock.now(),
      random: Math.random(),
      retryAfterMs: error instanceof TransientError ? error.retryAfterMs : undefined,
    });
    if (decision.kind === "retry") {
      const retryAt = decision.retryAt;
      const errorData = error.toJSON();
      op.lastOutcomeUnknown = isUnknownOutcome(error);
      run.appendOp(op, "attempt_failed", { attempt: attempts, error: errorData, retryAt });
      run.log.info(
        {
          seq: op.seq,
          step: op.name,
          attempt: attempts,
          err: errorData,
          retryInMs: retryAt - host.clock.now(),
        },
        `${describeOp(op.kind, op.name)} failed; retrying`,
      );
      run.markInFlight(op, false);
      run.onAttemptEnded();
      if (
        !(await waitUntil(run, op, retryAt, {
          kind: "retry",
          attempt: attempts + 1,
          lastError: errorData,
        }))
      )
        return;
      attempt++;
      continue;
    }
    run.log.info(
      { seq: op.seq, step: op.name, attempts, err: error.toJSON() },
      `${describeOp(op.kind, op.name)} failed for good`,
    );
    run.complete(op, "failed", {
      error: error.toJSON(),
      attempts,
      startedAt,
      ...(decision.unknown ? { unknown: true } : {}),
    });
    run.onAttemptEnded();
    return;
  }
}

/** One attempt of a step or call; `span` is the attempt's span, for a call's `traceparent`. */
export type AttemptBody = (attempt: number, abort: AttemptAbort, span: Span) => unknown;

/** One attempt; past `timeoutMs` it fails with STEP_TIMEOUT and its abort signal fires. */
function attemptOnce(
  clock: Clock,
  op: Op,
  attempt: number,
  timeoutMs: number | undefined,
  span: Span,
  body: AttemptBody,
): Promise<unknown> {
  const controller = new AttemptAbort();
  let result: Promise<unknown>;
  try {
    // A step's own spans nest under its attempt's; a call's transport sets its own headers.
    result = Promise.resolve(
      op.kind === "step"
        ? runInSpan(span, () => body(attempt, controller, span))
        : body(attempt, controller, span),
    );
  } catch (e) {
    return Promise.reject(e);
  }
  if (timeoutMs === undefined || timeoutMs <= 0) return result;
  return new Promise((resolve, reject) => {
    const timer = clock.setTimer(timeoutMs, () => {
      controller.abort();
      reject(
        new TransientError(`${describeOp(op.kind, op.name)} timed out after ${timeoutMs} ms`, {
          code: "STEP_TIMEOUT",
        }),
      );
    });
    result.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error: unknown) => {
        timer.cancel();
        reject(error);
      },
    );
  });
}

/** Waits until `at` on the clock; false if the operation or the run stopped meanwhile. */
function waitUntil(run: RunPort, op: Op, at: number, wait: Wait): Promise<boolean> {
  const clock = run.hostRef.clock;
  op.wait = { ...wait, until: at };
  return new Promise((resolve) => {
    const timer = clock.setTimer(at - clock.now(), () => {
      op.timer = undefined;
      op.wait = undefined;
      resolve(!op.abandoned && !run.halted);
    });
    // Cancelling (halt, abandon, the run's end) settles the wait too: the retry loop stops.
    op.timer = {
      cancel: () => {
        timer.cancel();
        resolve(false);
      },
    };
  });
}

/**
 * The abort signal of one attempt, made only if someone asks for it: most steps never look,
 * and an AbortController per attempt is a measurable cost on the hot path.
 */
export class AttemptAbort {
  private controller: AbortController | undefined;
  private isAborted = false;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.isAborted && !this.controller.signal.aborted) this.controller.abort();
    return this.controller.signal;
  }

  abort(): void {
    this.isAborted = true;
    this.controller?.abort();
  }
}
