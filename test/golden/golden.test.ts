import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, afterAll, describe, expect, it } from "vitest";
import { Baton, silentLogger } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import {
  SqliteStore,
  type JournalEntry,
  type NewRun,
  type WriteOp,
} from "../../src/store/index.js";
import { tempDbUrl } from "../support/temp-db.js";
import type { GoldenJournal } from "./golden-journal.js";
import { GOLDEN_WORKFLOWS, goldenMode } from "./workflows.js";

const TERMINAL = new Set(["run.completed", "run.compensated", "run.failed", "run.cancelled"]);
const files = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith(".json"))
  .sort();

function newRun(
  runId: string,
  workflow: string,
  input: unknown,
  journal: JournalEntry[],
  parent?: { runId: string; seq: number },
): NewRun {
  return {
    runId,
    workflow,
    input: input === undefined ? null : JSON.stringify(input),
    createdAt: journal[0]!.at,
    parentRunId: parent?.runId ?? null,
    parentSeq: parent?.seq ?? null,
    firstEntry: journal[0]!,
  };
}

function append(
  runId: string,
  entries: JournalEntry[],
  status: "running" | "completed",
  output?: unknown,
): WriteOp {
  return {
    type: "appendRun",
    runId,
    epoch: 0,
    expectedLength: 1,
    entries,
    update: {
      status,
      updatedAt: entries[entries.length - 1]?.at ?? 0,
      wakeAt: null,
      waitingOn: null,
      ...(status === "completed"
        ? { output: output === undefined ? null : JSON.stringify(output), error: null }
        : {}),
    },
  };
}

/**
 * Journals recorded by earlier versions (test/golden/record.ts): each is loaded as it was just before the
 * run ended — as after a crash — and today's engine must replay it to the recorded outcome
 * without running any recorded step again. Never edit a recording; add a new one.
 */
describe("golden journals", () => {
  const cleanups: Array<() => void> = [];
  beforeAll(() => void (goldenMode.live = false));
  afterAll(() => void (goldenMode.live = true));
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  it("has recordings to replay", () => expect(files.length).toBeGreaterThanOrEqual(3));

  it.each(files)("replays %s to its recorded outcome", async (file) => {
    const golden = JSON.parse(
      readFileSync(join(import.meta.dirname, file), "utf8"),
    ) as GoldenJournal;
    const db = tempDbUrl();
    cleanups.push(db.cleanup);
    const store = new SqliteStore({ path: db.path });
    await store.migrate();
    const terminalAt = golden.journal.findIndex((e) => TERMINAL.has(e.type));
    const beforeEnd = golden.journal.slice(0, terminalAt);
    const ops: WriteOp[] = [
      {
        type: "createRun",
        run: newRun(golden.runId, golden.workflow, golden.input, golden.journal),
      },
      append(golden.runId, beforeEnd.slice(1), "running"),
    ];
    for (const companion of golden.companions ?? []) {
      const end = companion.journal.find((e) => TERMINAL.has(e.type));
      const output = end?.data ? (JSON.parse(end.data) as { output?: unknown }).output : undefined;
      ops.push(
        {
          type: "createRun",
          run: newRun(companion.runId, companion.workflow, companion.input, companion.journal, {
            runId: companion.parentRunId,
            seq: companion.parentSeq,
          }),
        },
        append(companion.runId, companion.journal.slice(1), "completed", output),
      );
    }
    const results = await store.commit(ops);
    expect(results.every((r) => r.ok)).toBe(true);
    await store.close();

    const lastAt = golden.journal[golden.journal.length - 1]!.at;
    const baton = await Baton.open({
      db: db.url,
      workflows: GOLDEN_WORKFLOWS,
      clock: new ManualClock(lastAt),
      logger: silentLogger,
    });
    try {
      const run = await baton.wait(golden.runId);
      expect({
        status: run.status,
        ...(run.output !== undefined ? { output: run.output } : {}),
        ...(run.error ? { error: { code: run.error.code } } : {}),
      }).toEqual(golden.outcome);
      const replayed = await baton.history(golden.runId);
      expect(replayed.map((e) => [e.position, e.type, e.seq ?? null, e.name ?? null])).toEqual(
        golden.journal.map((e) => [e.position, e.type, e.seq, e.name]),
      );
    } finally {
      await baton.close();
    }
  });
});
