/**
 * Retention under load: 100,000 terminal runs older than the retention period are deleted by the
 * sweeper while 128 concurrent order sagas run; the sagas' throughput during the deletion is put
 * beside their throughput without it, with the deletion rate. Before that, the runs search by tag
 * and by creation time over those 100,000 runs is timed. Nothing is asserted: figures are printed
 * (and written as JSON with --json FILE).
 *
 *   npx tsx bench/retention.ts [--store sqlite|postgres] [--runs 100000] [--concurrency 128]
 *
 * PostgreSQL: BATON_BENCH_POSTGRES_URL or BATON_TEST_POSTGRES_URL names the server; a database of
 * its own is created and dropped.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Clock, TimerHandle } from "../src/common/index.js";
import { Baton, silentLogger } from "../src/index.js";
import { openStore, type JournalEntry, type NewRun, type WriteOp } from "../src/store/index.js";
import { createBenchDatabase } from "./postgres-server.js";
import { anOrder, orderSagaWorkflow, stepBodies } from "./workloads/order-saga.js";

const DAY = 86_400_000;
const { values: args } = parseArgs({
  options: {
    store: { type: "string", default: "sqlite" },
    runs: { type: "string", default: "100000" },
    concurrency: { type: "string", default: "128" },
    baseline: { type: "string", default: "10000" },
    json: { type: "string" },
  },
});
const RUNS = Number(args.runs);
const CONCURRENCY = Number(args.concurrency);
const BASELINE_RUNS = Number(args.baseline);

/** Wall time, shifted on demand: the bench moves the engine two days on to make the seeded runs expire. */
class ShiftableClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const handle = setTimeout(callback, Math.min(Math.max(0, delayMs), 2 ** 31 - 1));
    return { cancel: () => clearTimeout(handle) };
  }
}

const CUSTOMERS = 1_000;

/** Terminal runs as the engine leaves them: 8 journal entries, 2 tags, 1 event; due tomorrow. */
function seedOps(index: number, createdAt: number): WriteOp[] {
  const runId = `old-${String(index).padStart(7, "0")}`;
  const at = createdAt;
  const run: NewRun = {
    runId,
    workflow: "orderSaga",
    input: JSON.stringify(anOrder(runId)),
    createdAt,
    parentRunId: null,
    parentSeq: null,
    tags: { customer: `c-${index % CUSTOMERS}`, channel: index % 2 ? "web" : "shop" },
    firstEntry: { position: 0, seq: null, type: "run.started", name: null, data: null, at },
  };
  const steps = ["reserveInventory", "chargePayment", "shipOrder"];
  const entries: JournalEntry[] = steps.flatMap((name, i): JournalEntry[] => [
    { position: 1 + 2 * i, seq: i + 1, type: "step.started", name, data: null, at },
    {
      position: 2 + 2 * i,
      seq: i + 1,
      type: "step.completed",
      name,
      data: '{"ok":true,"step":"x","id":"0123456789abcdef0123456789"}',
      at,
    },
  ]);
  entries.push({
    position: 7,
    seq: null,
    type: "run.completed",
    name: null,
    data: '{"ok":true}',
    at,
  });
  return [
    { type: "createRun", run },
    {
      type: "appendRun",
      runId,
      epoch: 0,
      expectedLength: 1,
      entries,
      update: {
        status: "completed",
        updatedAt: at,
        wakeAt: null,
        waitingOn: null,
        output: '{"ok":true}',
        error: null,
        deleteAfter: at + DAY,
      },
      events: [
        {
          type: "run.completed",
          runId,
          workflow: "orderSaga",
          status: "completed",
          data: null,
          at,
        },
      ],
    },
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

async function main(): Promise<void> {
  let db: string;
  let cleanup: () => Promise<void>;
  if (args.store === "postgres") {
    const server = process.env.BATON_BENCH_POSTGRES_URL ?? process.env.BATON_TEST_POSTGRES_URL;
    if (!server) throw new Error("set BATON_BENCH_POSTGRES_URL or BATON_TEST_POSTGRES_URL");
    const database = await createBenchDatabase(server);
    db = database.url;
    cleanup = () => database.drop();
  } else {
    const dir = mkdtempSync(join(tmpdir(), "baton-retention-"));
    db = `sqlite:${join(dir, "baton.db")}`;
    cleanup = () => Promise.resolve(rmSync(dir, { recursive: true, force: true }));
  }
  try {
    const report: Record<string, unknown> = {
      store: args.store,
      runs: RUNS,
      concurrency: CONCURRENCY,
    };
    const clock = new ShiftableClock();
    const t0 = clock.now() - RUNS; // one run per ms, the newest just now

    // ── Seed ─────────────────────────────────────────────────────────────
    const seedStarted = performance.now();
    const store = openStore(db);
    await store.migrate();
    for (let i = 0; i < RUNS; i += 500) {
      const ops: WriteOp[] = [];
      for (let j = i; j < Math.min(RUNS, i + 500); j++) ops.push(...seedOps(j, t0 + j));
      const results = await store.commit(ops);
      if (results.some((r) => !r.ok))
        throw new Error(`seeding failed: ${JSON.stringify(results.find((r) => !r.ok))}`);
    }
    await store.close();
    report.seedSeconds = (performance.now() - seedStarted) / 1000;
    console.error(`seeded ${RUNS} terminal runs in ${(report.seedSeconds as number).toFixed(1)} s`);

    const counter = { executed: 0 };
    const baton = await Baton.open({
      db,
      clock,
      logger: silentLogger,
      workflows: [orderSagaWorkflow(stepBodies(counter))],
      retention: "30d",
    });
    try {
      // ── Search over the seeded runs ──────────────────────────────────────
      const searches: Record<string, () => Promise<unknown>> = {
        "tag (1 run in 1,000)": () => baton.list({ tags: ["customer:c-17"], limit: 50 }),
        "tag (1 run in 2)": () => baton.list({ tags: ["channel:web"], limit: 50 }),
        "two tags": () => baton.list({ tags: ["customer:c-17", "channel:web"], limit: 50 }),
        "time range (1,000 runs)": () =>
          baton.list({
            createdAfter: new Date(t0 + RUNS / 2).toISOString(),
            createdBefore: new Date(t0 + RUNS / 2 + 1_000).toISOString(),
            limit: 50,
          }),
        "tag and time range": () =>
          baton.list({
            tags: ["customer:c-17"],
            createdAfter: new Date(t0).toISOString(),
            createdBefore: new Date(t0 + RUNS / 2).toISOString(),
            limit: 50,
          }),
        "tag, no match": () => baton.list({ tags: ["customer:nobody"], limit: 50 }),
      };
      const searchMs: Record<string, { medianMs: number; maxMs: number }> = {};
      for (const [name, search] of Object.entries(searches)) {
        const times: number[] = [];
        for (let i = 0; i < 21; i++) {
          const started = performance.now();
          await search();
          times.push(performance.now() - started);
        }
        searchMs[name] = { medianMs: median(times), maxMs: Math.max(...times) };
      }
      report.searchMs = searchMs;

      // ── Sagas: closed loop of CONCURRENCY clients ────────────────────────
      let next = 0;
      async function sagas(
        phase: string,
        until: () => boolean,
      ): Promise<{ runs: number; seconds: number; latencies: number[] }> {
        const latencies: number[] = [];
        const started = performance.now();
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (!until()) {
              const id = `${phase}-${next++}`;
              const t = performance.now();
              await baton.start("orderSaga", anOrder(id), { runId: id });
              await baton.result(id);
              latencies.push(performance.now() - t);
            }
          }),
        );
        return { runs: latencies.length, seconds: (performance.now() - started) / 1000, latencies };
      }
      await sagas("warm", () => next >= 500);
      const baselineFrom = next;
      const baseline = await sagas("base", () => next - baselineFrom >= BASELINE_RUNS);

      // ── Deletion while the sagas run ─────────────────────────────────────
      clock.offset = 2 * DAY; // every seeded run is now past its deleteAfter
      let deleting = true;
      const deletionStarted = performance.now();
      const sweep = baton.engine.sweepExpiredRuns().then(() => {
        deleting = false;
        return (performance.now() - deletionStarted) / 1000;
      });
      const during = await sagas("during", () => !deleting);
      const deletionSeconds = await sweep;
      const deleted = Object.fromEntries(baton.engine.retentionDeleted);

      const summary = (r: { runs: number; seconds: number; latencies: number[] }) => ({
        runs: r.runs,
        seconds: r.seconds,
        runsPerSecond: r.runs / r.seconds,
        p50Ms: percentile(r.latencies, 0.5),
        p99Ms: percentile(r.latencies, 0.99),
      });
      report.sagasWithoutDeletion = summary(baseline);
      report.sagasDuringDeletion = summary(during);
      report.throughputRatio = summary(during).runsPerSecond / summary(baseline).runsPerSecond;
      report.deletion = {
        seconds: deletionSeconds,
        runsPerSecond: (deleted.runs ?? 0) / deletionSeconds,
        rows: deleted,
      };
      const left = await baton.list({ tags: ["channel:web"], limit: 1 });
      report.seededRunsLeft = left.runs.length;
    } finally {
      await baton.close();
    }
    console.log(JSON.stringify(report, null, 2));
    if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
  } finally {
    await cleanup();
  }
}

await main();
