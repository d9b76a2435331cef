import type { CaseResult } from "./case.js";
import type { ServerMemory } from "./postgres-memory.js";
import { spread, type Spread } from "./stats.js";
import type { TargetName } from "./target.js";
import type { Variant } from "./workloads/order-saga.js";

/** The figures of one W1 configuration, each over its repetitions; absent where a target has none. */
export type W1Figures = Partial<Record<FigureKey, Spread>>;

export type FigureKey =
  | "runsPerSec"
  | "stepsPerSec"
  | "p50Ms"
  | "p95Ms"
  | "p99Ms"
  | "cpuUsPerRun"
  | "peakRssMiB"
  | "sampledRssMiB"
  | "serverRssMiB"
  | "serverPssMiB"
  | "serverCpuUsPerRun";

const MiB = 2 ** 20;

/** A figure of a case, or undefined where the target has no such thing (a database server). */
export const FIGURES: ReadonlyArray<{ key: FigureKey; label: string; of: (r: CaseResult) => number | undefined }> = [
  { key: "runsPerSec", label: "runs/s", of: (r) => r.runsPerSec },
  { key: "stepsPerSec", label: "steps/s", of: (r) => r.stepsPerSec },
  { key: "p50Ms", label: "latency p50 ms", of: (r) => r.latencyMs.p50 },
  { key: "p95Ms", label: "latency p95 ms", of: (r) => r.latencyMs.p95 },
  { key: "p99Ms", label: "latency p99 ms", of: (r) => r.latencyMs.p99 },
  { key: "cpuUsPerRun", label: "CPU µs/run", of: (r) => r.cpuUsPerRun.total },
  { key: "peakRssMiB", label: "peak RSS MiB", of: (r) => r.peakRssBytes / MiB },
  { key: "sampledRssMiB", label: "sampled RSS max MiB", of: (r) => r.sampledRssBytes / MiB },
  { key: "serverRssMiB", label: "db server RSS MiB (sum, peak)", of: (r) => optional(serverOf(r)?.peakRssBytes, (b) => b / MiB) },
  { key: "serverPssMiB", label: "db server PSS MiB (sum, peak)", of: (r) => optional(serverOf(r)?.peakPssBytes, (b) => b / MiB) },
  { key: "serverCpuUsPerRun", label: "db server CPU µs/run", of: (r) => optional(serverOf(r)?.measuredCpuUs, (us) => us / r.spec.runs) },
];

function serverOf(r: CaseResult): ServerMemory | undefined {
  return r.server && !("unavailable" in r.server) ? r.server : undefined;
}

function optional(value: number | undefined, f: (v: number) => number): number | undefined {
  return value === undefined ? undefined : f(value);
}

export interface W1Summary {
  variant: Variant;
  runs: number;
  concurrency: number;
  target: TargetName;
  repetitions: number;
  figures: W1Figures;
  /** Baton ÷ lower bound, medians of this run; absent for the lower bound itself. */
  ratios?: Partial<Record<FigureKey, number>>;
  completed: number;
  compensated: number;
  /** Warnings the engine logged in one repetition (the most of any), warm-up included. */
  engineWarnings: number;
  problems: number;
  /** Why the database server's processes were not measured, where they were not. */
  serverUnavailable?: string;
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
    const figures: W1Figures = {};
    for (const f of FIGURES) {
      const values = reps.map(f.of).filter((v): v is number => v !== undefined && Number.isFinite(v));
      if (values.length > 0) figures[f.key] = spread(values);
    }
    const unavailable = reps.map((r) => (r.server && "unavailable" in r.server ? r.server.unavailable : undefined)).find((u) => u !== undefined);
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
      ...(unavailable !== undefined ? { serverUnavailable: unavailable } : {}),
    });
  }
  for (const s of summaries) {
    if (s.target === "lower-bound") continue;
    const bound = summaries.find((b) => b.target === "lower-bound" && configKey(b) === configKey({ ...s, target: "lower-bound" }));
    if (!bound) continue;
    const ratios: Partial<Record<FigureKey, number>> = {};
    for (const f of FIGURES) {
      const mine = s.figures[f.key];
      const theirs = bound.figures[f.key];
      if (mine && theirs) ratios[f.key] = mine.median / theirs.median;
    }
    s.ratios = ratios;
  }
  return summaries;
}

function configKey(c: { variant: string; runs: number; concurrency: number; target: string }): string {
  return `${c.variant}|${c.runs}|${c.concurrency}|${c.target}`;
}
