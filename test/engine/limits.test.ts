import { afterEach, describe, expect, it } from "vitest";
import { queue, service, workflow, type BatonError } from "../../src/index.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

/** Loops forever, one step per turn: only a limit stops it. */
const forever = workflow(
  "forever",
  async (ctx) => {
    for (let i = 0; ; i++) await ctx.step("tick", () => i);
  },
  { limits: { maxHistory: 40 } },
);

/** The same with a compensation registered first: the limit rolls it back. */
const foreverSaga = workflow(
  "foreverSaga",
  async (ctx) => {
    await ctx.step("reserve", () => ({ held: true }), {
      compensate: () => ctx.step("release", () => ({ released: true })),
    });
    for (let i = 0; ; i++) await ctx.step("tick", () => i);
  },
  { limits: { maxHistory: 40 } },
);

const big = (bytes: number): string => "x".repeat(bytes);

const bigStep = workflow("bigStep", async (ctx, input: { bytes: number }) => {
  let calls = 0;
  await ctx.step("fetch", () => {
    calls++;
    return big(input.bytes);
  });
  return calls;
});

const bigOutput = workflow("bigOutput", async (_ctx, input: { bytes: number; pad?: string }) =>
  big(input.bytes),
);

const inbox = workflow("inbox", async (ctx) => ctx.waitForSignal("never"));

const archive = service("archive", queue());
const fetchArchive = workflow("fetchArchive", async (ctx) => ctx.call(archive, "fetch", {}));

describe.each(EXECUTION_MODES)("limits ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("fails a run whose journal reaches its limit with HISTORY_TOO_LARGE, suggesting continueAsNew", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [forever],
      replayAfterEveryOp,
    });
    await baton.start(forever, undefined, { runId: "f-1" });
    await waitFor(async () => (await baton.get("f-1")).status === "failed");
    const run = await baton.get("f-1");
    expect(run.error?.code).toBe("HISTORY_TOO_LARGE");
    expect(run.error?.message).toContain("continueAsNew");
    const history = await baton.history("f-1");
    expect(history.map((e) => e.type)).toContain("run.limit_reached");
    // Stopped at the limit, with nothing more than the entries that end it.
    expect(history.length).toBeLessThanOrEqual(40 + 3);
  });

  it("rolls back a run at its history limit: its compensations run past the limit", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [foreverSaga],
      replayAfterEveryOp,
    });
    await baton.start(foreverSaga, undefined, { runId: "fs-1" });
    await waitFor(async () => (await baton.get("fs-1")).status === "compensated");
    const run = await baton.get("fs-1");
    expect(run.error?.code).toBe("HISTORY_TOO_LARGE");
    expect(run.steps.find((s) => s.name === "release")?.status).toBe("completed");
  });

  it("fails a step whose output is over the limit with OUTPUT_TOO_LARGE, without retrying it", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [bigStep],
      replayAfterEveryOp,
      limits: { maxOutputBytes: 1_000 },
    });
    await baton.start(bigStep, { bytes: 990 }, { runId: "ok-1" });
    expect(await baton.result("ok-1")).toBe(1);
    await baton.start(bigStep, { bytes: 2_000 }, { runId: "big-1" });
    await waitFor(async () => (await baton.get("big-1")).status === "failed");
    const run = await baton.get("big-1");
    expect(run.error?.code).toBe("OUTPUT_TOO_LARGE");
    expect(run.steps[0]).toMatchObject({ name: "fetch", status: "failed", attempts: 1 });
  });

  it("fails a queued call whose worker's reply is over the limit with OUTPUT_TOO_LARGE", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [fetchArchive],
      services: [archive],
      replayAfterEveryOp,
      limits: { maxOutputBytes: 1_000 },
    });
    await baton.start(fetchArchive, undefined, { runId: "a-1" });
    const [task] = await baton.engine.pollTasks("archive", { workerId: "w-1", waitMs: 5_000 });
    await baton.engine.completeTask(task!.taskId, { blob: big(2_000) });
    await waitFor(async () => (await baton.get("a-1")).status === "failed");
    const run = await baton.get("a-1");
    expect(run.error?.code).toBe("OUTPUT_TOO_LARGE");
    expect(run.steps[0]).toMatchObject({ name: "archive.fetch", status: "failed" });
  });

  it("bounds a run's own output and its start input the same way", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [bigOutput],
      replayAfterEveryOp,
      limits: { maxOutputBytes: 1_000 },
    });
    await baton.start(bigOutput, { bytes: 2_000 }, { runId: "o-1" });
    await waitFor(async () => (await baton.get("o-1")).status === "failed");
    expect((await baton.get("o-1")).error?.code).toBe("OUTPUT_TOO_LARGE");
    const refused = (await baton
      .start(bigOutput, { bytes: 1, pad: big(2_000) }, { runId: "o-2" })
      .catch((e: unknown) => e)) as BatonError;
    expect(refused.code).toBe("INPUT_TOO_LARGE");
    await expect(baton.get("o-2")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });

  it("refuses a signal past the run's unconsumed ones with TOO_MANY_SIGNALS; a cancel still gets through", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [inbox],
      replayAfterEveryOp,
      limits: { maxSignals: 3 },
    });
    await baton.start(inbox, undefined, { runId: "i-1" });
    for (let i = 0; i < 3; i++) await baton.signal("i-1", "note", i);
    await expect(baton.signal("i-1", "note", 3)).rejects.toMatchObject({
      code: "TOO_MANY_SIGNALS",
    });
    await baton.cancel("i-1");
    await waitFor(async () => (await baton.get("i-1")).status === "cancelled");
  });
});

describe("limits as options", () => {
  it("refuses a workflow whose limit is not a whole number ≥ 1", () => {
    expect(() => workflow("bad", async () => 1, { limits: { maxHistory: 0 } })).toThrow(
      /maxHistory must be a whole number/,
    );
  });
});
