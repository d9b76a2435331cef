import { afterEach, describe, expect, it } from "vitest";
import { workflow, type BatonError, type BatonEvent } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

const settlement = workflow("settlement", async (ctx, input: { orderId: string }) => {
  try {
    const payment = await ctx.waitForEvent<{ orderId: string; cents: number }>("payment.settled", {
      where: { orderId: input.orderId },
      timeout: 60_000,
    });
    return { paid: payment.cents };
  } catch (e) {
    return { timedOut: (e as BatonError).code };
  }
});

/** An event or a timer, whichever comes first: the row names the event wait (publishes find it so). */
const racer = workflow("racer", async (ctx) =>
  Promise.race([
    ctx.sleep(3_600_000).then(() => "slept"),
    ctx.waitForEvent<{ n: number }>("race.go").then((data) => `got ${data.n}`),
  ]),
);

const shipper = workflow(
  "shipper",
  async (ctx, input: { orderId: string }) => {
    const { id } = await ctx.emit("order.shipped", { orderId: input.orderId });
    return { shipped: input.orderId, eventId: id };
  },
  { on: "order.placed" },
);

const notifier = workflow("notifier", async (_ctx, input: { orderId: string }) => input, {
  on: ["order.shipped"],
  runId: (event) => `notify-${(event.data as { orderId: string }).orderId}`,
});

describe.each(EXECUTION_MODES)("events ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  async function open(clock = new ManualClock(), db = fixture.db()) {
    return fixture.open({
      db,
      workflows: [settlement, shipper, notifier, racer],
      clock,
      replayAfterEveryOp,
    });
  }

  it("resumes a wait on the matching event, ignoring others and those published before", async () => {
    const baton = await open();
    await baton.publish("payment.settled", { orderId: "o-1", cents: 1 }, { id: "before" });
    await baton.start(settlement, { orderId: "o-1" }, { runId: "s-1" });
    const waiting = await waitFor(async () => {
      const run = await baton.get("s-1");
      return run.status === "waiting" && run.waitingOn?.kind === "event" && run;
    });
    expect(waiting.waitingOn).toMatchObject({
      kind: "event",
      topic: "payment.settled",
      where: { orderId: "o-1" },
      reason: expect.stringContaining('waiting for event payment.settled where {"orderId":"o-1"}'),
    });
    await baton.publish("payment.settled", { orderId: "o-2", cents: 2 });
    await baton.publish("payment.refused", { orderId: "o-1", cents: 3 });
    await baton.publish("payment.settled", { orderId: "o-1", cents: 4 }, { id: "match" });
    expect(await baton.result("s-1")).toEqual({ paid: 4 });
    const steps = (await baton.get("s-1")).steps;
    expect(steps).toMatchObject([{ kind: "event", name: "payment.settled", status: "completed" }]);
  });

  it("times out with EVENT_TIMEOUT when no matching event comes", async () => {
    const clock = new ManualClock();
    const baton = await open(clock);
    await baton.start(settlement, { orderId: "o-9" }, { runId: "s-9" });
    await waitFor(async () => (await baton.get("s-9")).waitingOn?.kind === "event");
    await baton.publish("payment.settled", { orderId: "o-8", cents: 2 });
    clock.advance(60_000);
    expect(await baton.result("s-9")).toEqual({ timedOut: "EVENT_TIMEOUT" });
  });

  it("keeps waiting across a restart and takes an event published meanwhile", async () => {
    const db = fixture.db();
    const first = await open(new ManualClock(), db);
    await first.start(settlement, { orderId: "o-3" }, { runId: "s-3" });
    await waitFor(async () => (await first.get("s-3")).waitingOn?.kind === "event");
    await first.close();
    const second = await open(new ManualClock(), db);
    await second.publish("payment.settled", { orderId: "o-3", cents: 30 });
    expect(await second.result("s-3")).toEqual({ paid: 30 });
  });

  it("wakes a run racing an event against a timer, after a restart", async () => {
    const db = fixture.db();
    const first = await open(new ManualClock(), db);
    await first.start(racer, undefined, { runId: "race-1" });
    const waiting = await waitFor(async () => {
      const run = await first.get("race-1");
      return run.status === "waiting" && run;
    });
    expect(waiting.waitingOn).toMatchObject({ kind: "event", topic: "race.go" });
    await first.close();
    const second = await open(new ManualClock(), db);
    await second.publish("race.go", { n: 7 });
    expect(await second.result("race-1")).toBe("got 7");
  });

  it("starts one run per event id through triggers, and ctx.emit triggers in turn", async () => {
    const baton = await open();
    const seen: BatonEvent[] = [];
    baton.on((event) => {
      if (event.user) seen.push(event);
    });
    const first = await baton.publish("order.placed", { orderId: "o-5" }, { id: "o-5" });
    expect(first).toMatchObject({ created: true, createdRuns: ["order.placed:o-5"] });
    const again = await baton.publish("order.placed", { orderId: "other" }, { id: "o-5" });
    expect(again).toEqual({ created: false, event: first.event, createdRuns: [] });
    expect(await baton.result("order.placed:o-5")).toEqual({
      shipped: "o-5",
      eventId: "order.placed:o-5:1",
    });
    expect(await baton.result("notify-o-5")).toEqual({ orderId: "o-5" });
    const shippedRuns = await baton.list({ workflow: "shipper" });
    expect(shippedRuns.runs).toHaveLength(1);
    // Emitted once however often the run replayed; live subscribers saw both user events.
    const log = await baton.engine.readEvents(0, 100);
    expect(log.filter((e) => e.user).map((e) => [e.type, e.eventId, e.runId])).toEqual([
      ["order.placed", "o-5", undefined],
      ["order.shipped", "order.placed:o-5:1", "order.placed:o-5"],
    ]);
    await waitFor(() => seen.length === 2);
    expect(seen.map((e) => e.type)).toEqual(["order.placed", "order.shipped"]);
  });

  it("refuses reserved and malformed topics and bad ids, writing nothing", async () => {
    const baton = await open();
    await expect(baton.publish("run.failed", {})).rejects.toMatchObject({ code: "INVALID_TOPIC" });
    await expect(baton.publish("Order.Placed", {})).rejects.toMatchObject({
      code: "INVALID_TOPIC",
    });
    await expect(baton.publish("order.placed", {}, { id: "~1" })).rejects.toMatchObject({
      code: "INVALID_EVENT_ID",
    });
    await expect(baton.publish("order.placed", { orderId: 1 }, { id: "x" })).resolves.toMatchObject(
      { created: true },
    );
    expect((await baton.engine.readEvents(0, 10)).map((e) => e.type)).toEqual(["order.placed"]);
    expect(() => workflow("bad", async () => 1, { on: "step.completed" })).toThrow(/reserved/);
  });
});
