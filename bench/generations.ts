/**
 * ctx.continueAsNew keeps a long loop flat: memory and replay time stay the same at generation 10
 * and at generation 500, where one journal that only grows makes both grow with it.
 *
 *   npm run bench:generations                 # 50,000 iterations, continueAsNew every 100
 *   npm run bench:generations -- --quick      # 5,000 / 1,000, for a smoke run
 *
 * Two runs of a workflow that takes one step per iteration, on a SQLite file:
 *  - `continued`: 50,000 iterations, continueAsNew every 100 (500 generations);
 *  - `one journal`: 5,000 iterations in one generation (the history limit raised for it).
 * At each checkpoint the run waits for a signal; the bench closes the engine and opens a new one on
 * the same file (a restart), then signals: the time from the signal to the run's next step is the
 * replay time (load the run, replay its journal, go on). Heap (after a full GC) and RSS are read
 * in that step, with the replayed run in memory. Figures only, nothing asserted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Baton, silentLogger, workflow } from "../src/index.js";

const quick = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1";
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write("run with node --expose-gc (npm run bench:generations does)\n");
  process.exit(2);
}

interface Sample {
  label: string;
  iterations: number;
  replayMs: number;
  heapMiB: number;
  rssMiB: number;
}

let signalledAt = 0;
let onResumed: ((sample: { replayMs: number; heapMiB: number; rssMiB: number }) => void) | undefined;

/** Runs in the step after a checkpoint: the run has just been loaded and replayed. */
function resumed(): true {
  const replayMs = performance.now() - signalledAt;
  gc!();
  const memory = process.memoryUsage();
  onResumed?.({
    replayMs,
    heapMiB: memory.heapUsed / 2 ** 20,
    rssMiB: memory.rss / 2 ** 20,
  });
  return true;
}

interface LoopInput {
  i: number;
  until: number;
  /** Iterations per generation; 0: never continue. */
  per: number;
  /** Iteration counts at which to wait for a restart. */
  checkpoints: number[];
}

const loop = workflow(
  "loop",
  async (ctx, input: LoopInput) => {
    let i = input.i;
    const end = input.per > 0 ? Math.min(input.until, i + input.per) : input.until;
    for (;;) {
      if (input.checkpoints.includes(i)) {
        await ctx.waitForSignal(`cp-${i}`);
        await ctx.step("resumed", resumed);
      }
      if (i >= end) break;
      const at = i;
      await ctx.step("iterate", () => at);
      i++;
    }
    if (i >= input.until) return { i };
    return ctx.continueAsNew({ ...input, i });
  },
  // The one-journal run would otherwise stop at the default limit: that is the point of it.
  { limits: { maxHistory: 1_000_000 } },
);

async function measure(
  label: string,
  input: LoopInput,
  generationOf: (iterations: number) => string,
): Promise<Sample[]> {
  const dir = mkdtempSync(join(tmpdir(), "baton-generations-"));
  // synchronous=normal: the loop is bound by fsyncs otherwise; replay reads are what is measured.
  const db = `sqlite:${join(dir, "bench.db")}?synchronous=normal`;
  const samples: Sample[] = [];
  const started = performance.now();
  try {
    let baton = await Baton.open({ db, workflows: [loop], logger: silentLogger });
    await baton.start(loop, input, { runId: "loop" });
    for (const checkpoint of input.checkpoints) {
      // Poll the run's row until it waits at the checkpoint (bounded by the run's own progress).
      for (;;) {
        const run = await baton.get("loop");
        if (run.status === "waiting" && run.waitingOn?.kind === "signal") break;
        if (run.status !== "running" && run.status !== "waiting" && run.status !== "pending")
          throw new Error(`run ended ${run.status}: ${JSON.stringify(run.error)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await baton.close();
      baton = await Baton.open({ db, workflows: [loop], logger: silentLogger });
      const sample = new Promise<Sample>((resolve) => {
        onResumed = (s) =>
          resolve({ label: generationOf(checkpoint), iterations: checkpoint, ...s });
      });
      signalledAt = performance.now();
      await baton.signal("loop", `cp-${checkpoint}`);
      samples.push(await sample);
      process.stderr.write(`${label}: ${generationOf(checkpoint)} measured\n`);
    }
    await baton.result("loop");
    await baton.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(
    `${label}: ${input.until} iterations in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  return samples;
}

const per = 100;
const total = quick ? 5_000 : 50_000;
const generations = quick ? [10, 25, 50] : [10, 100, 250, 500];
// Half-way through each checkpoint generation: its journal holds 50 iterations.
const continued = await measure(
  "continued",
  {
    i: 0,
    until: total,
    per,
    checkpoints: generations.map((g) => (g - 1) * per + per / 2),
  },
  (iterations) => `generation ${Math.floor(iterations / per) + 1}`,
);
const flatTotal = quick ? 1_000 : 5_000;
const flatPoints = quick ? [100, 500, 1_000] : [500, 1_000, 2_500, 5_000];
const flat = await measure(
  "one journal",
  { i: 0, until: flatTotal, per: 0, checkpoints: flatPoints },
  (iterations) => `iteration ${iterations}`,
);

const rows = [
  ...continued.map((s) => ({ run: `continueAsNew every ${per}`, ...s })),
  ...flat.map((s) => ({ run: "one journal", ...s })),
];
process.stdout.write(
  [
    "run                      | at               | iterations | replay ms | heap MiB | RSS MiB",
    "-------------------------|------------------|-----------:|----------:|---------:|--------:",
    ...rows.map(
      (r) =>
        `${r.run.padEnd(24)} | ${r.label.padEnd(16)} | ${String(r.iterations).padStart(10)} | ${r.replayMs.toFixed(1).padStart(9)} | ${r.heapMiB.toFixed(1).padStart(8)} | ${r.rssMiB.toFixed(1).padStart(7)}`,
    ),
  ].join("\n") + "\n",
);
