/**
 * One W1 measurement in a process of its own, so peak RSS and CPU time are this case's alone.
 *
 *   node --import tsx bench/case.ts --target sqlite-full --variant saga --runs 2000 --warmup 200 --concurrency 128
 *   … --cpu-profile /tmp/c128.cpuprofile     profiles the measured runs only (see profile-summary.ts)
 *
 * Forked by bench/main.ts it reports progress and its result over IPC; run by hand (for
 * example under `node --cpu-prof`) it prints progress on stderr and the result as JSON on stdout.
 */
import { parseArgs } from "node:util";
import { openBatonTarget } from "./baton-target.js";
import { startCpuProfile } from "./cpu-profile.js";
import { drive } from "./driver.js";
import { lowerBoundTarget } from "./lower-bound.js";
import { peakRssBytes, sampleRss } from "./memory.js";
import type { ServerMemory } from "./postgres-memory.js";
import { findPostgresServer } from "./postgres-server.js";
import { isTargetName, type Target, type TargetName } from "./target.js";
import { STEPS_PER_OUTCOME, VARIANTS, anOrder, expectedOutcome, orderId, type Variant } from "./workloads/order-saga.js";

export interface CaseSpec {
  target: TargetName;
  variant: Variant;
  runs: number;
  warmup: number;
  concurrency: number;
}

export interface CaseResult {
  spec: CaseSpec;
  elapsedMs: number;
  runsPerSec: number;
  stepsPerSec: number;
  latencyMs: { p50: number; p95: number; p99: number; mean: number; max: number };
  completed: number;
  compensated: number;
  steps: number;
  cpuUsPerRun: { total: number; user: number; system: number };
  /** Kernel peak RSS of the case's process (warm-up included), bytes. */
  peakRssBytes: number;
  /** Highest RSS sampled during the measured runs, bytes. */
  sampledRssBytes: number;
  facts: Record<string, number>;
  /**
   * The database server's processes serving the case (postgres target), sampled by the parent;
   * or why they could not be.
   */
  server?: ServerMemory | { unavailable: string };
  /** Correctness failures; empty when every run ended as the failure rule predicts. */
  problems: string[];
}

export type CaseMessage =
  | { type: "progress"; phase: "warmup" | "measure"; done: number; total: number }
  /** The case's PostgreSQL database exists: the parent samples the server processes serving it. */
  | { type: "database"; name: string }
  /** The measured runs begin or end (after the warm-up; before the checks). */
  | { type: "measuring"; isMeasuring: boolean }
  | { type: "result"; result: CaseResult };

export function caseArgs(spec: CaseSpec): string[] {
  return [
    "--target", spec.target,
    "--variant", spec.variant,
    "--runs", String(spec.runs),
    "--warmup", String(spec.warmup),
    "--concurrency", String(spec.concurrency),
  ];
}

export async function runCase(spec: CaseSpec, report: (message: CaseMessage) => void, cpuProfilePath?: string): Promise<CaseResult> {
  const target: Target =
    spec.target === "lower-bound"
      ? lowerBoundTarget()
      : await openBatonTarget(spec.target, {
          ...(spec.target === "postgres" ? { postgresUrl: await postgresUrl() } : {}),
          onDatabase: (name) => report({ type: "database", name }),
        });
  const every = Math.max(1, Math.floor(spec.runs / 100));
  const progress = (phase: "warmup" | "measure", total: number) => (done: number) => {
    if (done % every === 0 || done === total) report({ type: "progress", phase, done, total });
  };

  if (spec.warmup > 0) {
    await drive({
      runs: spec.warmup,
      concurrency: spec.concurrency,
      runOne: (i) => target.runOrder(anOrder(orderId(spec.variant, "w", i))),
      onProgress: progress("warmup", spec.warmup),
    });
  }

  report({ type: "measuring", isMeasuring: true });
  const stopProfile = cpuProfilePath === undefined ? undefined : await startCpuProfile(cpuProfilePath);
  const stepsBefore = target.stepsExecuted();
  const sampler = sampleRss();
  const cpuBefore = process.cpuUsage();
  const driven = await drive({
    runs: spec.runs,
    concurrency: spec.concurrency,
    runOne: (i) => target.runOrder(anOrder(orderId(spec.variant, "m", i))),
    onProgress: progress("measure", spec.runs),
  });
  const cpu = process.cpuUsage(cpuBefore);
  const sampled = sampler.stop();
  const stepsExecuted = target.stepsExecuted() - stepsBefore;
  await stopProfile?.();
  report({ type: "measuring", isMeasuring: false });

  // Correctness: each run's outcome against the failure rule, then the step count.
  const problems: string[] = [];
  const expected = { completed: 0, compensated: 0, steps: 0 };
  let completed = 0;
  let compensated = 0;
  driven.results.forEach((outcome, i) => {
    const id = orderId(spec.variant, "m", i);
    const want = expectedOutcome(id);
    if (want === "completed") expected.completed++;
    else expected.compensated++;
    if (outcome === "completed") completed++;
    else if (outcome === "compensated") compensated++;
    if (outcome !== want && problems.length < 10) problems.push(`run ${id} ended ${outcome}, the failure rule predicts ${want}`);
  });
  expected.steps = expected.completed * STEPS_PER_OUTCOME.completed + expected.compensated * STEPS_PER_OUTCOME.compensated;
  const steps = completed * STEPS_PER_OUTCOME.completed + compensated * STEPS_PER_OUTCOME.compensated;
  if (stepsExecuted !== expected.steps) problems.push(`step bodies ran ${stepsExecuted} times, expected ${expected.steps}`);
  const check = await target.finish(`-m-`, expected);
  problems.push(...check.problems);

  const seconds = driven.elapsedMs / 1000;
  return {
    spec,
    elapsedMs: driven.elapsedMs,
    runsPerSec: spec.runs / seconds,
    stepsPerSec: steps / seconds,
    latencyMs: driven.latencyMs,
    completed,
    compensated,
    steps,
    cpuUsPerRun: { total: (cpu.user + cpu.system) / spec.runs, user: cpu.user / spec.runs, system: cpu.system / spec.runs },
    peakRssBytes: peakRssBytes(),
    sampledRssBytes: sampled.maxRssBytes,
    facts: check.facts,
    problems,
  };
}

/** The server the bench's parent found (it passes it on in the environment), or one found now. */
async function postgresUrl(): Promise<string> {
  const server = await findPostgresServer();
  if ("reason" in server) throw new Error(`no PostgreSQL: ${server.reason}`);
  return server.url;
}

function parseCli(argv: string[]): { spec: CaseSpec; cpuProfilePath: string | undefined } {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string", default: "sqlite-full" },
      variant: { type: "string", default: "saga" },
      runs: { type: "string", default: "2000" },
      warmup: { type: "string", default: "200" },
      concurrency: { type: "string", default: "16" },
      "cpu-profile": { type: "string" },
    },
  });
  const target = values.target;
  const variant = VARIANTS.find((v) => v === values.variant);
  if (!isTargetName(target)) throw new Error(`--target ${target}: use lower-bound, sqlite-full, sqlite-normal or postgres`);
  if (!variant) throw new Error(`--variant ${values.variant}: use ${VARIANTS.join(" or ")}`);
  const count = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${value}: a whole number ≥ ${min}`);
    return n;
  };
  const spec = {
    target,
    variant,
    runs: count("runs", values.runs, 1),
    warmup: count("warmup", values.warmup, 0),
    concurrency: count("concurrency", values.concurrency, 1),
  };
  return { spec, cpuProfilePath: values["cpu-profile"] };
}

async function main(): Promise<void> {
  const { spec, cpuProfilePath } = parseCli(process.argv.slice(2));
  const send = process.send?.bind(process);
  if (send) {
    const result = await runCase(spec, (message) => send(message), cpuProfilePath);
    send({ type: "result", result } satisfies CaseMessage, () => process.exit(0));
    return;
  }
  const result = await runCase(
    spec,
    (m) => {
      if (m.type === "progress" && process.stderr.isTTY) process.stderr.write(`\r${m.phase} ${m.done}/${m.total}\x1b[K`);
    },
    cpuProfilePath,
  );
  process.stderr.write("\n");
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exit(result.problems.length ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
