import { afterEach, describe, expect, it } from "vitest";
import { EventType, workflow, type BatonError, type BatonEvent } from "../../src/index.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { batonFixture } from "../support/open-baton.js";
import { describePostgres, freshDatabase, type TestDatabase } from "../support/postgres.js";
import { waitFor } from "../support/wait-for.js";

/** Counts to `until` in generations of `per` steps, carrying its state in the input. */
const counter = workflow(
  "counter",
  async (ctx, state: { n: number; until: number; per: number; sum: number }) => {
    let { n, sum } = state;
    for (let i = 0; i < state.per && n < state.until; i++) {
      sum += await ctx.step("add", () => n);
      n++;
    }
    if (n >= state.until) return { n, sum };
    return ctx.continueAsNew({ ...state, n, sum });
  },
);

/** Generation 1 consumes "go" and continues; generation 2 takes the "x" signals sent before. */
const relay = workflow("relay", async (ctx, input: { phase: number }) => {
  if (input.phase === 1) {
    await ctx.waitForSignal("go");
    return ctx.continueAsNew({ phase: 2 });
  }
  const first = await ctx.waitForSignal<number>("x");
  const second = await ctx.waitForSignal<number>("x");
  return { got: [first, second] };
});

/** Continues while a step it has not awaited is in flight, inside a step, or in a compensation. */
const misuse = workflow("misuse", async (ctx, input: { where: string }) => {
  if (input.where === "inFlight") {
    const pending = ctx.step("slow", () => 1);
    try {
      await ctx.continueAsNew({ where: "inFlight" });
    } catch (e) {
      await pending;
      return { refused: (e as BatonError).code, message: (e as BatonError).message };
    }
  }
  if (input.where === "inStep") {
    await ctx.step("inner", () => ctx.continueAsNew({ where: "inStep" }), {
      retry: { maxAttempts: 1 },
    });
  }
  await ctx.step("reserve", () => 1, {
    compensate: async () => {
      try {
        await ctx.continueAsNew({ where: "comp" });
      } catch (e) {
        await ctx.step("noted", () => (e as BatonError).code);
      }
    },
  });
  throw new Error("roll back");
});

/** Waits in every generation, so a cancel can find it. */
const patient = workflow("patient", async (ctx, input: { generation: number }) => {
  await ctx.step("tick", () => input.generation);
  if (input.generation < 3) return ctx.continueAsNew({ generation: input.generation + 1 });
  return ctx.waitForSignal("never");
});

describe.each(EXECUTION_MODES)("ctx.continueAsNew ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("runs generation after generation under one runId, counting them, each with a fresh journal", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [counter],
      replayAfterEveryOp,
    });
    const events: BatonEvent[] = [];
    baton.on((event) => events.push(event));
    await baton.start(counter, { n: 0, until: 20, per: 5, sum: 0 }, { runId: "c-1" });
    expect(await baton.result("c-1")).toEqual({ n: 20, sum: 190 });
    const run = await baton.get("c-1");
    // Generations 1–3 take 5 steps each and continue; generation 4 takes the last 5 and returns.
    expect(run.generation).toBe(4);
    expect(run.input).toEqual({ n: 15, until: 20, per: 5, sum: 105 });
    // This generation's journal only: it starts where the last one ended, seqs counting on.
    const history = await baton.history("c-1");
    expect(history[0]).toMatchObject({
      type: "run.started",
      data: { generation: 4, firstSeq: 16 },
    });
    expect(history.filter((e) => e.seq !== undefined).every((e) => e.seq! >= 16)).toBe(true);
    expect(run.steps.map((s) => s.seq)).toEqual([16, 17, 18, 19, 20]);
    expect(events.filter((e) => e.type === EventType.RunContinued).map((e) => e.data)).toEqual([
      { generation: 2 },
      { generation: 3 },
      { generation: 4 },
    ]);
    // A continue is not an end: one terminal event, for the last generation.
    expect(events.filter((e) => e.type === EventType.RunCompleted)).toHaveLength(1);
  });

  it("goes on numbering seqs across generations, so idempotency keys stay unique", async () => {
    const keys: string[] = [];
    const keyed = workflow("keyed", async (ctx, input: { left: number }) => {
      await ctx.step("k", (info) => {
        keys.push(info.idempotencyKey);
      });
      if (input.left > 0) return ctx.continueAsNew({ left: input.left - 1 });
      return "done";
    });
    const baton = await fixture.open({ db: fixture.db(), workflows: [keyed], replayAfterEveryOp });
    await baton.start(keyed, { left: 2 }, { runId: "k-1" });
    expect(await baton.result("k-1")).toBe("done");
    expect([...new Set(keys)]).toEqual(["k-1:1", "k-1:2", "k-1:3"]);
    expect((await baton.get("k-1")).steps.map((s) => s.seq)).toEqual([3]);
  });

  it("carries signals not consumed yet over to the next generation", async () => {
    const baton = await fixture.open({ db: fixture.db(), workflows: [relay], replayAfterEveryOp });
    await baton.start(relay, { phase: 1 }, { runId: "r-1", tags: { customer: "c-17" } });
    await baton.signal("r-1", "x", 1);
    await baton.signal("r-1", "x", 2);
    await baton.signal("r-1", "go");
    expect(await baton.result("r-1")).toEqual({ got: [1, 2] });
    // The run's tags are the run's, not a generation's: they stay.
    expect(await baton.get("r-1")).toMatchObject({ generation: 2, tags: { customer: "c-17" } });
  });

  it("is refused while a step is in flight, inside a step, and during a compensation", async () => {
    const baton = await fixture.open({ db: fixture.db(), workflows: [misuse], replayAfterEveryOp });
    await baton.start(misuse, { where: "inFlight" }, { runId: "m-1" });
    const inFlight = await baton.result<{ refused: string; message: string }>("m-1");
    expect(inFlight.refused).toBe("CONTINUE_AS_NEW_REFUSED");
    expect(inFlight.message).toContain("step slow (seq 1) is in flight");

    await baton.start(misuse, { where: "inStep" }, { runId: "m-2" });
    await waitFor(async () => (await baton.get("m-2")).status === "failed");
    expect((await baton.get("m-2")).error?.code).toBe("CONTINUE_AS_NEW_REFUSED");

    await baton.start(misuse, { where: "comp" }, { runId: "m-3" });
    await waitFor(async () => (await baton.get("m-3")).status === "compensated");
    const run = await baton.get("m-3");
    expect(run.generation).toBe(1);
    expect(run.steps.find((s) => s.name === "noted")?.output).toBe("CONTINUE_AS_NEW_REFUSED");
  });

  it("ends a child run with its last generation: the parent waits through every continue", async () => {
    const parent = workflow("parent", async (ctx) => ({
      fromChild: await ctx.child(counter, { n: 0, until: 6, per: 2, sum: 0 }),
    }));
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [parent, counter],
      replayAfterEveryOp,
    });
    await baton.start(parent, undefined, { runId: "parent-1" });
    expect(await baton.result("parent-1")).toEqual({ fromChild: { n: 6, sum: 15 } });
    const child = await baton.get("parent-1:1");
    expect(child).toMatchObject({ generation: 3, parentRunId: "parent-1", status: "completed" });
  });

  it("takes a cancel in the generation it reaches, and the run ends there", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [patient],
      replayAfterEveryOp,
    });
    await baton.start(patient, { generation: 1 }, { runId: "p-1" });
    await waitFor(async () => {
      const run = await baton.get("p-1");
      return run.generation === 3 && run.status === "waiting";
    });
    await baton.cancel("p-1", "enough");
    await waitFor(async () => (await baton.get("p-1")).status === "cancelled");
    expect((await baton.get("p-1")).generation).toBe(3);
  });
});

describe.each(EXECUTION_MODES)(
  "a cancel racing continueAsNew ($name)",
  ({ replayAfterEveryOp }) => {
    const fixture = batonFixture();
    afterEach(() => fixture.cleanup());

    const hopper = workflow("hopper", async (ctx, input: { generation: number }) => {
      await ctx.waitForSignal("hop");
      if (input.generation < 2) return ctx.continueAsNew({ generation: input.generation + 1 });
      return ctx.waitForSignal("never");
    });

    it.each([0, 1, 2, 3, 4])(
      "is never lost: the run ends cancelled in the generation that took it (race %i)",
      async (race) => {
        const baton = await fixture.open({
          db: fixture.db(),
          workflows: [hopper],
          replayAfterEveryOp,
        });
        const runId = `h-${race}`;
        await baton.start(hopper, { generation: 1 }, { runId });
        await waitFor(async () => (await baton.get(runId)).status === "waiting");
        // The signal that makes generation 1 continue and the cancel, sent at once.
        await Promise.all([baton.signal(runId, "hop"), baton.cancel(runId, "race")]);
        await waitFor(async () => (await baton.get(runId)).status === "cancelled");
        expect([1, 2]).toContain((await baton.get(runId)).generation);
      },
    );
  },
);

describePostgres("ctx.continueAsNew on PostgreSQL (a node of a cluster)", () => {
  const fixture = batonFixture();
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await fixture.cleanup();
    await database?.drop();
    database = undefined;
  });

  it("counts generations, carries signals and keeps the journal to the current generation", async () => {
    database = await freshDatabase();
    const baton = await fixture.open({ db: database.url, workflows: [counter, relay] });
    await baton.start(counter, { n: 0, until: 12, per: 4, sum: 0 }, { runId: "pg-c" });
    expect(await baton.result("pg-c")).toEqual({ n: 12, sum: 66 });
    const run = await baton.get("pg-c");
    expect(run.generation).toBe(3);
    expect(run.steps.map((s) => s.seq)).toEqual([9, 10, 11, 12]);

    await baton.start(relay, { phase: 1 }, { runId: "pg-r" });
    await baton.signal("pg-r", "x", 1);
    await baton.signal("pg-r", "x", 2);
    await baton.signal("pg-r", "go");
    expect(await baton.result("pg-r")).toEqual({ got: [1, 2] });
  });

  it("refuses a signal past the limit with TOO_MANY_SIGNALS", async () => {
    database = await freshDatabase();
    const baton = await fixture.open({
      db: database.url,
      workflows: [relay],
      limits: { maxSignals: 2 },
    });
    await baton.start(relay, { phase: 1 }, { runId: "pg-l" });
    await baton.signal("pg-l", "x", 1);
    await baton.signal("pg-l", "x", 2);
    await expect(baton.signal("pg-l", "x", 3)).rejects.toMatchObject({ code: "TOO_MANY_SIGNALS" });
  });
});
