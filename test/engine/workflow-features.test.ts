import { afterEach, describe, expect, it } from "vitest";
import { StepFailedError, workflow, type BatonError } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

const quote = workflow("quote", async (ctx, input: { item: string; fail?: boolean }) => {
  const price = await ctx.step("price", () => {
    if (input.fail) throw new StepFailedError(`no price for ${input.item}`, { code: "NO_PRICE" });
    return { item: input.item, price: input.item.length * 10 };
  });
  return price;
});

const basket = workflow("basket", async (ctx, input: { items: string[]; failOn?: string }) => {
  const quotes = await Promise.all(
    input.items.map((item) => ctx.child(quote, { item, fail: item === input.failOn })),
  );
  return { total: quotes.reduce((sum, q) => sum + (q as { price: number }).price, 0) };
});

const fanOut = workflow("fanOut", async (ctx) => {
  const [a, b, c] = await Promise.all([
    ctx.step("a", () => 1),
    ctx.step("b", async () => 2),
    ctx.step("c", () => 3),
  ]);
  const winner = await Promise.race([
    ctx.sleep(60_000).then(() => "timer"),
    ctx.step("fast", () => "fast").then((v) => v),
  ]);
  const after = await ctx.step("after", () => a + b + c);
  return { a, b, c, winner, after, id: ctx.uuid(), r: ctx.random() };
});

let compensated: string[] = [];
const holdable = workflow("holdable", async (ctx) => {
  await ctx.step("book", () => ({ booking: "b-1" }), {
    compensate: (booking) => ctx.step("unbook", () => void compensated.push(booking.booking)),
  });
  await ctx.waitForSignal("confirm");
  await ctx.step("never", () => "unreachable");
  return "done";
});

describe.each(EXECUTION_MODES)("workflow features ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("runs child runs in parallel and returns their outputs", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [quote, basket],
      replayAfterEveryOp,
    });
    await baton.start(basket, { items: ["pen", "book"] }, { runId: "b-1" });
    expect(await baton.result("b-1")).toEqual({ total: 70 });
    const child = await baton.get("b-1:1");
    expect(child).toMatchObject({
      status: "completed",
      parentRunId: "b-1",
      output: { item: "pen", price: 30 },
    });
    const parent = await baton.get("b-1");
    expect(parent.steps.map((s) => [s.kind, s.name, s.status])).toEqual([
      ["child", "quote", "completed"],
      ["child", "quote", "completed"],
    ]);
  });

  it("rejects the parent's child call with the child's error when the child fails", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [quote, basket],
      replayAfterEveryOp,
    });
    await baton.start(basket, { items: ["pen", "ink"], failOn: "ink" }, { runId: "b-2" });
    const run = await baton.wait("b-2");
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("NO_PRICE");
    expect(run.error?.message).toContain("child run b-2:2 ended failed");
  });

  it("gives Promise.all and Promise.race over ctx operations the same results on replay", async () => {
    const baton = await fixture.open({ db: fixture.db(), workflows: [fanOut], replayAfterEveryOp });
    await baton.start(fanOut, {}, { runId: "f-1" });
    const output = await baton.result<Record<string, unknown>>("f-1");
    expect(output).toMatchObject({ a: 1, b: 2, c: 3, winner: "fast", after: 6 });
    const history = await baton.history("f-1");
    const recorded = history.find((e) => e.type === "uuid.recorded")?.data as { value: string };
    expect(output.id).toBe(recorded.value);
  });

  it("cancels a waiting run: its compensations run and it ends cancelled", async () => {
    compensated = [];
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [holdable],
      replayAfterEveryOp,
    });
    await baton.start(holdable, {}, { runId: "h-1" });
    await waitFor(async () => (await baton.get("h-1")).status === "waiting");
    await baton.cancel("h-1", "customer changed their mind");
    const run = await baton.wait("h-1");
    expect(run.status).toBe("cancelled");
    expect(run.error).toEqual({ code: "CANCELLED", message: "customer changed their mind" });
    expect(compensated).toEqual(["b-1"]);
    expect(run.steps.map((s) => s.name)).toEqual(["book", "confirm", "unbook"]);
    await expect(baton.signal("h-1", "confirm")).rejects.toMatchObject({ code: "RUN_TERMINAL" });
  });

  it("keeps a cancel sent the moment a run starts, and one sent during a restart", async () => {
    compensated = [];
    const db = fixture.db();
    let baton = await fixture.open({ db, workflows: [holdable], replayAfterEveryOp });
    // While the run's first writes are still committing (and, in the replaying mode, while it
    // is being replayed): the request is durable as soon as cancel() returns.
    for (let i = 0; i < 10; i++) {
      await baton.start(holdable, {}, { runId: `early-${i}` });
      await baton.cancel(`early-${i}`, "changed my mind");
    }
    await baton.start(holdable, {}, { runId: "across-restart" });
    await waitFor(async () => (await baton.get("across-restart")).status === "waiting");
    await baton.cancel("across-restart");
    await baton.close();
    baton = await fixture.open({ db, workflows: [holdable], replayAfterEveryOp });
    for (let i = 0; i < 10; i++) {
      expect((await baton.wait(`early-${i}`)).status, `early-${i}`).toBe("cancelled");
    }
    expect(await baton.wait("across-restart")).toMatchObject({
      status: "cancelled",
      error: { code: "CANCELLED", message: "cancelled on request" },
    });
    // Cancelling twice is refused once it has ended; a second request before that is harmless.
    await expect(baton.cancel("across-restart")).rejects.toMatchObject({ code: "RUN_TERMINAL" });
  });

  it("keeps signal names starting with baton: for itself", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [holdable],
      replayAfterEveryOp,
    });
    await baton.start(holdable, {}, { runId: "reserved" });
    await expect(baton.signal("reserved", "baton:cancel")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect((await baton.get("reserved")).status).not.toBe("cancelled");
  });

  it("starts one run when the same run id is started many times at once", async () => {
    let executions = 0;
    const counted = workflow("counted", async (ctx) => ctx.step("count", () => ++executions));
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [counted],
      replayAfterEveryOp,
    });
    const starts = await Promise.all(
      Array.from({ length: 25 }, () => baton.start(counted, {}, { runId: "same" })),
    );
    expect(starts.filter((s) => s.created)).toHaveLength(1);
    expect(new Set(starts.map((s) => s.runId))).toEqual(new Set(["same"]));
    await baton.result("same");
    expect(executions).toBe(1);
    expect((await baton.list({ workflow: "counted" })).runs).toHaveLength(1);
  });
});

describe("retries and timeouts", () => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("shows a step waiting to retry, with its last error and next attempt", async () => {
    const clock = new ManualClock();
    let calls = 0;
    const flaky = workflow("flaky", async (ctx) =>
      ctx.step(
        "flaky",
        () => {
          if (++calls < 3) throw new Error(`boom ${calls}`);
          return calls;
        },
        { retry: { maxAttempts: 5, initialIntervalMs: 1000, jitter: 0 } },
      ),
    );
    const baton = await fixture.open({ db: fixture.db(), workflows: [flaky], clock });
    await baton.start(flaky, {}, { runId: "r-1" });
    const waiting = await waitFor(async () => {
      const run = await baton.get("r-1");
      return run.waitingOn?.kind === "retry" && run;
    });
    expect(waiting.status).toBe("waiting");
    expect(waiting.waitingOn).toMatchObject({
      kind: "retry",
      step: "flaky",
      attempt: 2,
      lastError: { message: "boom 1" },
    });
    expect(waiting.steps[0]).toMatchObject({
      name: "flaky",
      attempts: 1,
      error: { message: "boom 1" },
    });
    clock.advance(1000);
    await waitFor(async () => (await baton.get("r-1")).waitingOn?.attempt === 3);
    clock.advance(2000);
    expect(await baton.result("r-1")).toBe(3);
    expect((await baton.get("r-1")).steps[0]).toMatchObject({ status: "completed", attempts: 3 });
  });

  it("times out an attempt that runs too long and fails the step with STEP_TIMEOUT after the last attempt", async () => {
    const slow = workflow("slow", async (ctx) => {
      try {
        await ctx.step(
          "slow",
          (info) =>
            new Promise((_, reject) =>
              info.signal.addEventListener("abort", () => reject(new Error("aborted"))),
            ),
          {
            timeout: 20,
            retry: { maxAttempts: 2, initialIntervalMs: 1 },
          },
        );
        return "finished";
      } catch (e) {
        return (e as BatonError).code;
      }
    });
    const baton = await fixture.open({ db: fixture.db(), workflows: [slow] });
    await baton.start(slow, {}, { runId: "s-1" });
    expect(await baton.result("s-1")).toBe("STEP_TIMEOUT");
    expect((await baton.get("s-1")).steps[0]).toMatchObject({ status: "failed", attempts: 2 });
  });

  it("does not retry error codes the policy names as non-retryable", async () => {
    let calls = 0;
    const picky = workflow("picky", async (ctx) =>
      ctx.step(
        "picky",
        () => {
          calls++;
          throw Object.assign(new Error("card declined"), { code: "CARD_DECLINED" });
        },
        { retry: { maxAttempts: 5, initialIntervalMs: 1, nonRetryable: ["CARD_DECLINED"] } },
      ),
    );
    const baton = await fixture.open({ db: fixture.db(), workflows: [picky] });
    await baton.start(picky, {}, { runId: "p-1" });
    const run = await baton.wait("p-1");
    expect(run).toMatchObject({ status: "failed", error: { code: "CARD_DECLINED" } });
    expect(calls).toBe(1);
  });
});

describe("bounded memory", () => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("drops waiting runs from memory beyond the cache and replays them when a signal wakes them", async () => {
    const waiter = workflow("waiter", async (ctx, input: { n: number }) => {
      const first = await ctx.step("first", () => input.n);
      const payload = await ctx.waitForSignal<number>("go");
      return first + payload;
    });
    const baton = await fixture.open({ db: fixture.db(), workflows: [waiter], cacheSize: 5 });
    for (let n = 0; n < 40; n++) await baton.start(waiter, { n }, { runId: `w-${n}` });
    await waitFor(
      async () => (await baton.list({ status: "waiting", limit: 100 })).runs.length === 40,
    );
    expect(baton.engine.residentRuns).toBeLessThanOrEqual(5);
    for (let n = 0; n < 40; n++) await baton.signal(`w-${n}`, "go", 100);
    for (let n = 0; n < 40; n++) expect(await baton.result(`w-${n}`)).toBe(100 + n);
  });
});
