import type { CaseResult } from "./case.js";
import { spread, type Spread } from "./stats.js";
import type { TargetName } from "./target.js";
import type { Variant } from "./workloads/order-saga.js";

/** The figures of one W1 configuration, each over its repetitions. */
export interface W1Figures {
  runsPerSec: Spread;
  stepsPerSec: Spread;
  p50Ms: Spread;
  p95Ms: Spread;
  p99Ms: Spread;
  cpuUsPerRun: Spread;
  peakRssMiB: Spread;
  sampledRssMiB: Spread;
}

export const FIGURES: ReadonlyArray<{ key: keyof W1Figures; label: string; of: (r: CaseResult) => number }> = [
  { key: "runsPerSec", label: "runs/s", of: (r) => r.runsPerSec },
  { key: "stepsPerSec", label: "steps/s", of: (r) => r.stepsPerSec },
  { key: "p50Ms", label: "latency p50 ms", of: (r) => r.latencyMs.p50 },
  { key: "p95Ms", label: "latency p95 ms", of: (r) => r.latencyMs.p95 },
  { key: "p99Ms", label: "latency p99 ms", of: (r) => r.latencyMs.p99 },
  { key: "cpuUsPerRun", label: "CPU µs/run", of: (r) => r.cpuUsPerRun.total },
  { key: "peakRssMiB", label: "peak RSS MiB", of: (r) => r.peakRssBytes / 2 ** 20 },
  { key: "sampledRssMiB", label: "sampled RSS max MiB", of: (r) => r.sampledRssBytes / 2 ** 20 },
];

export interface W1Summary {
  variant: Variant;
  runs: number;
  concurrency: number;
  target: TargetName;
  repetitions: number;
  figures: W1Figures;
  /** Baton ÷ lower bound, medians of this run; absent for the lower bound itself. */
  ratios?: Record<keyof W1Figures, number>;
  completed: number;
  compensated: number;
  /** Warnings the engine logged in one repetition (the most of any), warm-up included. */
  engineWarnings: number;
  problems: number;
}

/** Groups repetitions by configuration and reduces each figure to median, min and max. */
export function summarize(cases: readonly CaseResult[]): W1Summary[] {
  const groups = new Map<string, CaseResult[]>();
  for (const c of cases) {
    const key = configKey(c.spec);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const summaries: W1Summary[] = [];
  for (const reps of groups.values()) {
    const { variant, runs, concurrency, target } = reps[0]!.spec;
    const figures = Object.fromEntries(FIGURES.map((f) => [f.key, spread(reps.map(f.of))])) as unknown as W1Figures;
    summaries.push({
      variant,
      runs,
      concurrency,
      target,
      repetitions: reps.length,
      figures,
      completed: reps[0]!.completed,
      compensated: reps[0]!.compensated,
      engineWarnings: Math.max(...reps.map((r) => r.facts.engineWarnings ?? 0)),
      problems: reps.reduce((n, r) => n + r.problems.length, 0),
    });
  }
  for (const s of summaries) {
    if (s.target === "lower-bound") continue;
    const bound = summaries.find((b) => b.target === "lower-bound" && configKey(b) === configKey({ ...s, target: "lower-bound" }));
    if (!bound) continue;
    s.ratios = Object.fromEntries(FIGURES.map((f) => [f.key, s.figures[f.key].median / bound.figures[f.key].median])) as Record<keyof W1Figures, number>;
  }
  return summaries;
}

function configKey(c: { variant: string; runs: number; concurrency: number; target: string }): string {
  return `${c.variant}|${c.runs}|${c.concurrency}|${c.target}`;
}
