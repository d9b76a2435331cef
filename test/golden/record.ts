/**
 * Records golden journals: `npx tsx test/golden/record.ts`. Writes a NEW file per scenario
 * (never overwrite a recording: CI replays each one forever).
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Baton, silentLogger } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { SqliteStore } from "../../src/store/index.js";
import { tempDbUrl } from "../support/temp-db.js";
import type { GoldenJournal } from "./golden-journal.js";
import { GOLDEN_WORKFLOWS } from "./workflows.js";

const version = "0.3.0";

async function record(
  name: string,
  description: string,
  runId: string,
  workflow: string,
  input: unknown,
  drive: (baton: Baton, clock: ManualClock) => Promise<void>,
  startOptions: { deadline?: number } = {},
): Promise<void> {
  const file = join(import.meta.dirname, `${name}.json`);
  if (existsSync(file)) {
    console.log(`kept ${file}: recordings are never overwritten`);
    return;
  }
  const db = tempDbUrl();
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
  const baton = await Baton.open({
    db: db.url,
    workflows: GOLDEN_WORKFLOWS,
    clock,
    logger: silentLogger,
  });
  await baton.start(workflow, input, { runId, ...startOptions });
  await drive(baton, clock);
  const run = await baton.wait(runId);
  await baton.close();
  const store = new SqliteStore({ path: db.path });
  const journal = await store.readJournal(runId);
  const children = (await store.listRuns({ limit: 100 })).runs.filter(
    (r) => r.parentRunId === runId,
  );
  const companions = await Promise.all(
    children.map(async (child) => ({
      runId: child.runId,
      workflow: child.workflow,
      input: child.input === null ? undefined : (JSON.parse(child.input) as unknown),
      parentRunId: runId,
      parentSeq: child.parentSeq ?? 0,
      journal: await store.readJournal(child.runId),
    })),
  );
  await store.close();
  db.cleanup();
  const golden: GoldenJournal = {
    description,
    recordedWith: version,
    runId,
    workflow,
    input,
    ...(companions.length ? { companions } : {}),
    journal,
    outcome: {
      status: run.status,
      ...(run.output !== undefined ? { output: run.output } : {}),
      ...(run.error ? { error: { code: run.error.code } } : {}),
    },
  };
  writeFileSync(file, `${JSON.stringify(golden, null, 2)}\n`);
  console.log(`recorded ${file}: ${run.status}`);
}

async function approveAfterTimer(baton: Baton, clock: ManualClock, runId: string): Promise<void> {
  for (let i = 0; i < 200 && clock.pendingTimers() === 0; i++)
    await new Promise((r) => setTimeout(r, 5));
  await baton.signal(runId, "approve", { by: "ops" });
  clock.advance(10);
}

await record(
  "v0.1-order-completed",
  "order saga with sleep, signal, now/uuid/random; ends completed",
  "g-order-1",
  "goldenOrder",
  { orderId: "1", failShip: false },
  (b, c) => approveAfterTimer(b, c, "g-order-1"),
);
await record(
  "v0.1-order-compensated",
  "order saga whose ship fails for good: refund then release",
  "g-order-2",
  "goldenOrder",
  { orderId: "2", failShip: true },
  (b, c) => approveAfterTimer(b, c, "g-order-2"),
);
await record(
  "v0.1-fan-out",
  "Promise.all over steps and a child run, then Promise.race of a timer and a step",
  "g-fan-1",
  "goldenFanOut",
  {},
  async () => {},
);

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

await record(
  "v0.2-rollback-skip",
  "ship fails; the refund fails for good under policy skip: release runs, PARTIALLY_COMPENSATED",
  "g-rollback-1",
  "goldenRollback",
  { orderId: "1", policy: "skip" },
  async (b) => {
    await until("the signal wait", async () => (await b.get("g-rollback-1")).status === "waiting");
    await b.signal("g-rollback-1", "approve", {});
  },
);
await record(
  "v0.2-rollback-cancel-operator-skip",
  "cancelled while waiting; the refund fails under policy event; an operator skips it",
  "g-rollback-2",
  "goldenRollback",
  { orderId: "2", policy: "event" },
  async (b) => {
    await until("the signal wait", async () => (await b.get("g-rollback-2")).status === "waiting");
    await b.cancel("g-rollback-2", "customer asked");
    await until(
      "the operator wait",
      async () => (await b.get("g-rollback-2")).waitingOn?.kind === "operator",
    );
    await b.skipCompensation("g-rollback-2", 2);
  },
);
await record(
  "v0.2-rollback-deadline-retry",
  "the deadline passes while waiting; the refund fails under policy retry, then an operator retries it and it fails again, then skips it",
  "g-rollback-3",
  "goldenRollback",
  { orderId: "3", policy: "retry" },
  async (b, c) => {
    await until("the signal wait", async () => (await b.get("g-rollback-3")).status === "waiting");
    c.advance(1_000);
    await until(
      "the retry wait",
      async () => (await b.get("g-rollback-3")).waitingOn?.kind === "retry",
    );
    c.advance(60_000);
    await until(
      "the second retry wait",
      async () => (await b.get("g-rollback-3")).waitingOn?.attempt === 3,
    );
    await b.skipCompensation("g-rollback-3", 2);
  },
  { deadline: 500 },
);
await record(
  "v0.3-history-limit",
  "a loop reaches its history limit (maxHistory 12): HISTORY_TOO_LARGE, its compensation runs",
  "g-limit-1",
  "goldenHistoryLimit",
  undefined,
  async () => {},
);
