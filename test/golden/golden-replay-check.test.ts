import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workflow } from "../../src/index.js";
import { ReplayChecker } from "../../src/engine/index.js";
import type { RunRecord } from "../../src/store/index.js";
import type { GoldenJournal } from "./golden-journal.js";
import { GOLDEN_WORKFLOWS, goldenMode, goldenOrder } from "./workflows.js";

const files = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith(".json"))
  .sort();

function recordOf(golden: GoldenJournal): RunRecord {
  const first = golden.journal[0]!;
  const last = golden.journal[golden.journal.length - 1]!;
  return {
    runId: golden.runId,
    workflow: golden.workflow,
    status: golden.outcome.status as RunRecord["status"],
    input: golden.input === undefined ? null : JSON.stringify(golden.input),
    output: null,
    error: null,
    parentRunId: null,
    parentSeq: null,
    createdAt: first.at,
    updatedAt: last.at,
    wakeAt: null,
    waitingOn: null,
    journalLength: golden.journal.length,
    epoch: 0,
    version: 1,
  };
}

const load = (file: string): GoldenJournal =>
  JSON.parse(readFileSync(join(import.meta.dirname, file), "utf8")) as GoldenJournal;

/**
 * The deploy gate's replay (replay-only mode) against the recorded journals: every whole
 * journal, terminal entry included, matches today's code — and a changed workflow does not.
 * A recorded step running again would throw (goldenMode.live = false) and end the run otherwise.
 */
describe("replay-check on golden journals", () => {
  beforeAll(() => void (goldenMode.live = false));
  afterAll(() => void (goldenMode.live = true));

  it.each(files)("finds %s matching the code it was recorded with", async (file) => {
    const golden = load(file);
    const checker = new ReplayChecker(GOLDEN_WORKFLOWS);
    expect(await checker.check(recordOf(golden), golden.journal)).toEqual({ outcome: "matches" });
  });

  it("names the seq and both sides when the code changed under a recorded run", async () => {
    const golden = load("v0.1-order-completed.json");
    const changed = workflow("goldenOrder", async (ctx) => {
      await ctx.step("reserve", () => ({}));
      await ctx.step("fraudCheck", () => ({}));
      return {};
    });
    const checker = new ReplayChecker([
      changed,
      ...GOLDEN_WORKFLOWS.filter((w) => w !== goldenOrder),
    ]);
    expect(await checker.check(recordOf(golden), golden.journal)).toMatchObject({
      outcome: "diverges",
      seq: 2,
      journal: { kind: "step", name: "charge" },
      code: { kind: "step", name: "fraudCheck" },
    });
  });

  it("says when the code has no definition of the run's version", async () => {
    const golden = load("v0.1-order-completed.json");
    const checker = new ReplayChecker(GOLDEN_WORKFLOWS);
    expect(await checker.check({ ...recordOf(golden), version: 2 }, golden.journal)).toMatchObject({
      outcome: "no_code",
      message: expect.stringContaining("version 2 of workflow goldenOrder"),
    });
  });
});
