import type { BatonError } from "../../common/index.js";
import { backoffMs, isRetryable, type ResolvedRetryPolicy } from "../retry.js";

/** What follows a failed attempt of a step or call. */
export type AttemptDecision =
  | { kind: "retry"; retryAt: number }
  /** `unknown`: the attempt got no answer, so its effect may have happened all the same. */
  | { kind: "fail"; unknown: boolean };

export interface FailedAttempt {
  error: BatonError;
  /** Attempts (for a queued call: deliveries) made so far, this one included. */
  attempt: number;
  policy: ResolvedRetryPolicy;
  /** The run is stopping (failed, cancelled, past its deadline): no new attempt starts. */
  stopping: boolean;
  now: number;
  /** In [0, 1), for the jitter. */
  random: number;
  retryAfterMs?: number | undefined;
}

/**
 * The retry rule, in one place for steps, direct calls and queued calls: retry while the error
 * is retryable, the policy has attempts left and the run is not stopping; otherwise fail for good.
 */
export function decideAfterFailure(failed: FailedAttempt): AttemptDecision {
  if (
    isRetryable(failed.error, failed.policy) &&
    failed.attempt < failed.policy.maxAttempts &&
    !failed.stopping
  ) {
    const delay = backoffMs(failed.policy, failed.attempt, failed.random, failed.retryAfterMs);
    return { kind: "retry", retryAt: failed.now + delay };
  }
  return { kind: "fail", unknown: isUnknownOutcome(failed.error) };
}

/**
 * Errors after which nobody knows whether the command took effect: the attempt timed out (the
 * request may have been received), a worker's lease ran out, or a transport says so.
 */
export function isUnknownOutcome(error: { code: string; details?: unknown }): boolean {
  if (error.code === "STEP_TIMEOUT" || error.code === "LEASE_EXPIRED") return true;
  const details = error.details as { outcome?: unknown } | undefined;
  return details?.outcome === "unknown";
}
