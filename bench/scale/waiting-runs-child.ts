/**
 * The engine process of the waiting-runs figure (see waiting-runs.ts):
 *
 *   node --expose-gc --import tsx bench/scale/waiting-runs-child.ts <dbPath> <runs> <concurrency>
 *
 * Opens Baton, starts `runs` runs that each do one step and then wait for signal "go", and
 * answers the parent's "measure" with its own memory after a full GC.
 */
import { Baton, workflow } from "../../src/index.js";
import { LogTally } from "../logger.js";
import { peakRssBytes } from "../memory.js";
import type { WaitingMessage, WaitingMemory } from "./waiting-runs.js";

const [dbPath, runsArg, concurrencyArg] = process.argv.slice(2);
if (!dbPath || !runsArg || !concurrencyArg || !process.send) {
  process.stderr.write("usage (forked, with IPC): waiting-runs-child.ts <dbPath> <runs> <concurrency>\n");
  process.exit(2);
}
const RUNS = Number(runsArg);
const CONCURRENCY = Number(concurrencyArg);
const send = (message: WaitingMessage): void => void process.send!(message);

const awaitGo = workflow("awaitGo", async (ctx, input: { i: number }) => {
  const prepared = await ctx.step("prepare", async () => ({ step: "prepare", i: input.i, note: "ready to go", ok: true }));
  const go = await ctx.waitForSignal<{ go: boolean }>("go");
  return { prepared, go };
});

/** Two full collections, a turn apart, so what is left is what is held. */
async function collect(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    global.gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const baton = await Baton.open({
  db: `sqlite:${dbPath}`,
  workflows: [awaitGo],
  logger: new LogTally((line) => send({ type: "problem", line })).logger,
});

async function memory(): Promise<WaitingMemory> {
  await collect();
  const m = process.memoryUsage();
  return {
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    heapTotalBytes: m.heapTotal,
    externalBytes: m.external,
    residentRuns: baton.engine.residentRuns,
    peakRssBytes: peakRssBytes(),
    hasGc: typeof global.gc === "function",
  };
}

send({ type: "baseline", memory: await memory() });

const startedAt = performance.now();
let next = 0;
let started = 0;
const every = Math.max(1, Math.floor(RUNS / 100));
async function starter(): Promise<void> {
  while (next < RUNS) {
    const i = next++;
    await baton.start(awaitGo, { i }, { runId: `wait-${i}` });
    if (++started % every === 0) send({ type: "progress", started });
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, () => starter()));
send({ type: "started", ms: performance.now() - startedAt });

process.on("message", (message: WaitingMessage) => {
  if (message.type === "measure") {
    void memory().then((m) => send({ type: "memory", memory: m }));
  } else if (message.type === "close") {
    void baton.close().then(() => process.exit(0));
  }
});
