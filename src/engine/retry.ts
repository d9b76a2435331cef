import type { BatonError } from "../common/index.js";

/** How a step or call is retried. Durations are milliseconds. */
export interface RetryPolicy {
  /** Attempts in all, the first included. 1 means never retried. */
  maxAttempts?: number;
  /** Wait before the second attempt. */
  initialIntervalMs?: number;
  /** Each wait is this many times the previous one. */
  backoffCoefficient?: number;
  /** No wait is longer than this. */
  maxIntervalMs?: number;
  /** Spread each wait by ± this fraction, so retries of many runs do not arrive in lockstep. */
  jitter?: number;
  /** Error codes (or error names) that are never retried. */
  nonRetryable?: readonly string[];
}

export type ResolvedRetryPolicy = Required<RetryPolicy>;

export const DEFAULT_RETRY: ResolvedRetryPolicy = {
  maxAttempts: 5,
  initialIntervalMs: 100,
  backoffCoefficient: 2,
  maxIntervalMs: 30_000,
  jitter: 0.2,
  nonRetryable: [],
};

export function resolveRetry(...policies: Array<RetryPolicy | undefined>): ResolvedRetryPolicy {
  let resolved = DEFAULT_RETRY;
  for (const policy of policies) if (policy) resolved = { ...resolved, ...stripUndefined(policy) };
  return resolved;
}

export function isRetryable(error: BatonError, policy: ResolvedRetryPolicy): boolean {
  if (!error.retryable) return false;
  const type = (error.details as { type?: unknown } | undefined)?.type;
  return !policy.nonRetryable.some(
    (code) => code === error.code || code === error.name || code === type,
  );
}

/** Wait before attempt `attempt + 1`, after `attempt` failed. `random` is in [0, 1). */
export function backoffMs(
  policy: ResolvedRetryPolicy,
  attempt: number,
  random: number,
  retryAfterMs?: number,
): number {
  const base =
    policy.initialIntervalMs * Math.pow(policy.backoffCoefficient, Math.max(0, attempt - 1));
  const jittered = Math.min(policy.maxIntervalMs, base * (1 + policy.jitter * (2 * random - 1)));
  // A service's Retry-After is a floor: never come back sooner than it asked.
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
