import { describe, expect, it } from "vitest";
import { BatonError, StepFailedError, TransientError, toBatonError } from "../common/index.js";
import {
  DEFAULT_RETRY,
  backoffMs,
  isRetryable,
  resolveRetry,
  type ResolvedRetryPolicy,
  type RetryPolicy,
} from "./retry.js";

const noJitter: ResolvedRetryPolicy = {
  ...DEFAULT_RETRY,
  initialIntervalMs: 100,
  backoffCoefficient: 2,
  maxIntervalMs: 30_000,
  jitter: 0,
};

describe("resolveRetry", () => {
  it("gives the defaults when no policy is set", () => {
    expect(resolveRetry()).toEqual(DEFAULT_RETRY);
    expect(resolveRetry(undefined, undefined)).toEqual(DEFAULT_RETRY);
  });

  it("lets each later policy override the earlier ones, field by field", () => {
    const engine: RetryPolicy = { maxAttempts: 10, jitter: 0 };
    const workflow: RetryPolicy = { initialIntervalMs: 1_000, maxAttempts: 3 };
    const step: RetryPolicy = { nonRetryable: ["OUT_OF_STOCK"] };
    expect(resolveRetry(engine, undefined, workflow, step)).toEqual({
      ...DEFAULT_RETRY,
      maxAttempts: 3,
      jitter: 0,
      initialIntervalMs: 1_000,
      nonRetryable: ["OUT_OF_STOCK"],
    });
  });

  it("ignores fields set to undefined, as a JavaScript caller may pass them", () => {
    const fromJs = { maxAttempts: undefined, initialIntervalMs: 5 } as unknown as RetryPolicy;
    expect(resolveRetry({ maxAttempts: 7 }, fromJs)).toEqual({
      ...DEFAULT_RETRY,
      maxAttempts: 7,
      initialIntervalMs: 5,
    });
  });

  it("leaves the defaults untouched", () => {
    const before = structuredClone(DEFAULT_RETRY);
    resolveRetry({ maxAttempts: 1, nonRetryable: ["X"] });
    expect(DEFAULT_RETRY).toEqual(before);
  });
});

describe("backoffMs", () => {
  it("grows exponentially from the initial interval", () => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffMs(noJitter, attempt, 0.5))).toEqual([
      100, 200, 400, 800, 1_600,
    ]);
  });

  it("uses the coefficient it is given", () => {
    const policy = { ...noJitter, initialIntervalMs: 50, backoffCoefficient: 3 };
    expect([1, 2, 3].map((attempt) => backoffMs(policy, attempt, 0))).toEqual([50, 150, 450]);
  });

  it("waits the initial interval before the first retry even for attempt 0", () => {
    expect(backoffMs(noJitter, 0, 0)).toBe(100);
  });

  it("caps the wait at maxIntervalMs", () => {
    const policy = { ...noJitter, maxIntervalMs: 1_000 };
    expect(backoffMs(policy, 4, 0)).toBe(800);
    expect(backoffMs(policy, 5, 0)).toBe(1_000);
    expect(backoffMs(policy, 60, 0)).toBe(1_000);
  });

  it("spreads the wait by ± jitter: random 0 gives the low end, random near 1 the high end", () => {
    const policy = { ...noJitter, jitter: 0.2 };
    expect(backoffMs(policy, 3, 0)).toBe(320);
    expect(backoffMs(policy, 3, 0.5)).toBe(400);
    expect(backoffMs(policy, 3, 0.999_999)).toBe(480);
    for (let i = 0; i <= 100; i++) {
      const wait = backoffMs(policy, 3, i / 101);
      expect(wait).toBeGreaterThanOrEqual(320);
      expect(wait).toBeLessThanOrEqual(480);
    }
  });

  it("returns whole milliseconds", () => {
    expect(Number.isInteger(backoffMs({ ...noJitter, jitter: 0.2 }, 1, 0.123_456))).toBe(true);
  });

  it("treats Retry-After as a floor, never a ceiling", () => {
    expect(backoffMs(noJitter, 1, 0, 5_000)).toBe(5_000);
    expect(backoffMs(noJitter, 3, 0, 10)).toBe(400);
    expect(backoffMs({ ...noJitter, maxIntervalMs: 1_000 }, 1, 0, 60_000)).toBe(60_000);
    expect(backoffMs({ ...noJitter, jitter: 0.5 }, 1, 0, 70)).toBe(70);
  });
});

describe("isRetryable", () => {
  const policy = resolveRetry();

  it("retries a retryable error", () => {
    expect(isRetryable(new TransientError("busy"), policy)).toBe(true);
    expect(isRetryable(toBatonError(new Error("reset")), policy)).toBe(true);
  });

  it("never retries an error that is not retryable", () => {
    expect(isRetryable(new StepFailedError("declined"), policy)).toBe(false);
    expect(isRetryable(new BatonError("X", "y"), policy)).toBe(false);
  });

  it("does not retry a code listed as nonRetryable", () => {
    const strict = resolveRetry({ nonRetryable: ["RATE_LIMITED"] });
    expect(isRetryable(new TransientError("slow down", { code: "RATE_LIMITED" }), strict)).toBe(
      false,
    );
    expect(isRetryable(new TransientError("busy"), strict)).toBe(true);
  });

  it("does not retry an error whose class name or original type is listed", () => {
    expect(
      isRetryable(new TransientError("busy"), resolveRetry({ nonRetryable: ["TransientError"] })),
    ).toBe(false);
    const typeError = toBatonError(new TypeError("x is undefined"));
    expect(isRetryable(typeError, resolveRetry({ nonRetryable: ["TypeError"] }))).toBe(false);
    expect(isRetryable(typeError, resolveRetry({ nonRetryable: ["RangeError"] }))).toBe(true);
  });
});
