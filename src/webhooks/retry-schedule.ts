/** How failed deliveries are attempted again. Durations in ms. */
export interface WebhookRetryPolicy {
  /** Wait before the second attempt. Default 5 s. */
  initialIntervalMs?: number;
  /** Each wait is this many times the previous one. Default 2. */
  backoffCoefficient?: number;
  /** No wait is longer than this. Default 1 hour. */
  maxIntervalMs?: number;
  /** Spread each wait by ± this fraction, so deliveries of many events do not come back in lockstep. Default 0.2. */
  jitter?: number;
}

export const DEFAULT_WEBHOOK_RETRY: Required<WebhookRetryPolicy> = {
  initialIntervalMs: 5_000,
  backoffCoefficient: 2,
  maxIntervalMs: 3_600_000,
  jitter: 0.2,
};

/** What one attempt came to, as far as deciding the next step needs. */
export type AttemptResult =
  | { kind: "answered"; statusCode: number; retryAfterMs?: number }
  | { kind: "unreachable"; error: string };

export type AttemptDecision =
  { kind: "delivered" } | { kind: "retry"; delayMs: number; error: string };

/**
 * After attempt number `attempt`: a 2xx ends the delivery; anything else — another status, no
 * answer, a timeout — is attempted again, after an exponential wait with jitter (`random` in
 * [0, 1)), never sooner than the receiver's Retry-After. There is no last attempt: a delivery ends
 * with a 2xx or with its subscription.
 */
export function decideAfterAttempt(
  result: AttemptResult,
  attempt: number,
  policy: Required<WebhookRetryPolicy>,
  random: number,
): AttemptDecision {
  if (result.kind === "answered" && result.statusCode >= 200 && result.statusCode < 300) {
    return { kind: "delivered" };
  }
  const base =
    policy.initialIntervalMs * Math.pow(policy.backoffCoefficient, Math.max(0, attempt - 1));
  const jittered = Math.min(policy.maxIntervalMs, base * (1 + policy.jitter * (2 * random - 1)));
  const floor = result.kind === "answered" ? (result.retryAfterMs ?? 0) : 0;
  return {
    kind: "retry",
    delayMs: Math.round(Math.max(jittered, Math.min(floor, policy.maxIntervalMs))),
    error: result.kind === "answered" ? `HTTP ${result.statusCode}` : result.error,
  };
}
