import { TARGET_NAMES, type TargetName } from "./target.js";
import { VARIANTS, Variant } from "./workloads/order-saga.js";

/** One point of the W1 load matrix. */
export interface Load {
  runs: number;
  concurrency: number;
}

export interface ScalePlan {
  /** Runs left waiting on a signal before memory is measured. */
  waitingRuns: number;
  /** Runs in flight when the engine process is killed. */
  killRuns: number;
  /** Client loops starting runs in the scale figures. */
  startConcurrency: number;
  /** The durable sleep in the middle of each kill-test run. */
  killSleepMs: number;
  /** Runs started over HTTP (measured), after `httpWarmup` starts that are not. */
  httpStarts: number;
  httpWarmup: number;
  /** Client loops (keep-alive connections) posting starts. */
  httpClients: number;
  /** Queue command round trips, one at a time (measured), after `queueWarmup` that are not. */
  queueRoundTrips: number;
  queueWarmup: number;
}

export interface Plan {
  quick: boolean;
  variants: readonly Variant[];
  targets: readonly TargetName[];
  loads: readonly Load[];
  warmup: number;
  repetitions: number;
  scale: ScalePlan;
}

/** The full plan, as bench/README.md describes it. */
export const FULL_PLAN: Plan = {
  quick: false,
  variants: VARIANTS,
  targets: TARGET_NAMES,
  loads: [
    { runs: 2000, concurrency: 1 },
    { runs: 2000, concurrency: 16 },
    { runs: 2000, concurrency: 128 },
    { runs: 10_000, concurrency: 128 },
  ],
  warmup: 200,
  repetitions: 3,
  scale: {
    waitingRuns: 100_000,
    killRuns: 10_000,
    startConcurrency: 256,
    killSleepMs: 2000,
    httpStarts: 20_000,
    httpWarmup: 1000,
    httpClients: 64,
    queueRoundTrips: 500,
    queueWarmup: 50,
  },
};

/** Keeps the bench code working in CI: every code path, tiny sizes, no timing claims. */
export const QUICK_PLAN: Plan = {
  quick: true,
  // saga-fail alone: its runs take both paths (completed and compensated), at half the time.
  variants: [Variant.SagaFail],
  targets: TARGET_NAMES,
  loads: [
    { runs: 50, concurrency: 1 },
    { runs: 50, concurrency: 16 },
  ],
  warmup: 10,
  repetitions: 1,
  scale: {
    waitingRuns: 2000,
    killRuns: 300,
    startConcurrency: 256,
    killSleepMs: 2000,
    httpStarts: 300,
    httpWarmup: 50,
    httpClients: 64,
    queueRoundTrips: 30,
    queueWarmup: 5,
  },
};
