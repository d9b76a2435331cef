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

const version = "0.1.0";

async function record(
  name: string,
  description: string,
  runId: string,
  workflow: string,
  input: unknown,
  drive: (baton: Baton, clock: ManualClock) => Promise<void>,
): Promise<void> {
  const file = join(import.meta.dirname, `${name}.json`);
  if (existsSync(file)) throw new Error(`${file} exists: recordings are never overwritten`);
  const db = tempDbUrl();
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
  const baton = await Baton.open({
    db: db.url,
    workflows: GOLDEN_WORKFLOWS,
    clock,
    logger: silentLogger,
  });
  await baton.start(workflow, input, { runId });
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
