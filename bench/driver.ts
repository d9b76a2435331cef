import { percentile } from "./stats.js";

export interface DriverOptions<T> {
  /** Runs in all. */
  runs: number;
  /** Client loops; each has at most one run in flight. */
  concurrency: number;
  /** Starts run `index` and resolves once its result is held. */
  runOne: (index: number) => Promise<T>;
  /** Called after each run with the number done so far. */
  onProgress?: (done: number) => void;
}

export interface DriverResult<T> {
  runs: number;
  concurrency: number;
  /** First start → last result, in ms. */
  elapsedMs: number;
  /** What each run's `runOne` resolved with, by index. */
  results: T[];
  latencyMs: { p50: number; p95: number; p99: number; mean: number; max: number };
}

/**
 * The closed-loop driver (bench/README.md): C loops, each starts a run, waits for its result,
 * records the latency, then starts the next. A rejection of `runOne` stops the loops and
 * rejects the drive: outcomes the workload expects must be resolved, not thrown.
 */
export async function drive<T>(options: DriverOptions<T>): Promise<DriverResult<T>> {
  const { runs, concurrency, runOne, onProgress } = options;
  const latencies = new Float64Array(runs);
  const results = new Array<T>(runs);
  let next = 0;
  let done = 0;
  let firstStart = Number.POSITIVE_INFINITY;
  let lastEnd = Number.NEGATIVE_INFINITY;
  let failed = false;

  async function loop(): Promise<void> {
    while (next < runs && !failed) {
      const index = next++;
      const startedAt = performance.now();
      if (startedAt < firstStart) firstStart = startedAt;
      try {
        results[index] = await runOne(index);
      } catch (e) {
        failed = true;
        throw e;
      }
      const endedAt = performance.now();
      latencies[index] = endedAt - startedAt;
      if (endedAt > lastEnd) lastEnd = endedAt;
      onProgress?.(++done);
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, runs) }, () => loop()));
  const sorted = latencies.slice().sort();
  let sum = 0;
  for (const l of sorted) sum += l;
  return {
    runs,
    concurrency,
    elapsedMs: lastEnd - firstStart,
    results,
    latencyMs: {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      mean: sum / runs,
      max: sorted[sorted.length - 1] ?? Number.NaN,
    },
  };
}
