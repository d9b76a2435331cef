import { afterEach, describe, expect, it } from "vitest";
import { queue, service, workflow } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

const payments = service("payments", queue({ leaseMs: 5_000 }));
const inventory = service("inventory", queue());

const checkout = workflow(
  "checkout",
  async (ctx, input: { orderId: string }) => {
    const hold = await ctx.call<{ holdId: string }>(inventory, "hold", input, {
      compensate: (h) => ctx.call(inventory, "unhold", h),
    });
    const charge = await ctx.call(payments, "charge", { ...input, hold: hold.holdId });
    return { hold, charge };
  },
  { retry: { maxAttempts: 3, initialIntervalMs: 1, maxIntervalMs: 5 } },
);

describe.each(EXECUTION_MODES)("durable queue ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("delivers commands to polling workers and resumes the run with their replies", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [checkout],
      services: [payments, inventory],
      replayAfterEveryOp,
    });
    const engine = baton.engine;
    await baton.start(checkout, { orderId: "q-1" }, { runId: "q-1" });
    const [hold] = await engine.pollTasks("inventory", { workerId: "w-inv", waitMs: 5_000 });
    expect(hold).toMatchObject({
      command: "hold",
      input: { orderId: "q-1" },
      runId: "q-1",
      workflow: "checkout",
      idempotencyKey: "q-1:1",
      attempt: 1,
    });
    expect(hold!.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await engine.completeTask(hold!.taskId, { holdId: "h-1" });
    await engine.completeTask(hold!.taskId, { holdId: "h-1" }); // twice is harmless
    const [charge] = await engine.pollTasks("payments", { workerId: "w-pay", waitMs: 5_000 });
    expect(charge).toMatchObject({
      command: "charge",
      input: { orderId: "q-1", hold: "h-1" },
      idempotencyKey: "q-1:2",
    });
    await engine.completeTask(charge!.taskId, { paymentId: "p-1" });
    expect(await baton.result("q-1")).toEqual({
      hold: { holdId: "h-1" },
      charge: { paymentId: "p-1" },
    });
  });

  it("keeps commands queued while no worker is there, and says so on the run", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [checkout],
      services: [payments, inventory],
      replayAfterEveryOp,
    });
    await baton.start(checkout, { orderId: "q-2" }, { runId: "q-2" });
    // The run says it waits as soon as it asks; the queue shows the command once it is durable.
    const run = await waitFor(async () => {
      const r = await baton.get("q-2");
      return r.waitingOn?.kind === "task" && r.waitingOn.queueDepth === 1 && r;
    });
    expect(run.status).toBe("waiting");
    expect(run.waitingOn).toMatchObject({
      kind: "task",
      service: "inventory",
      queueDepth: 1,
      workers: 0,
    });
    expect(run.waitingOn?.reason).toContain("no inventory worker has polled in the last 30 s");
    expect((await baton.engine.services()).find((s) => s.name === "inventory")).toMatchObject({
      transport: "queue",
      queueDepth: 1,
      inFlight: 0,
    });
  });

  it("retries a retryable worker failure and compensates after a business failure", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [checkout],
      services: [payments, inventory],
      replayAfterEveryOp,
    });
    const engine = baton.engine;
    await baton.start(checkout, { orderId: "q-3" }, { runId: "q-3" });
    const [hold] = await engine.pollTasks("inventory", { workerId: "w", waitMs: 5_000 });
    await engine.completeTask(hold!.taskId, { holdId: "h-3" });
    const [first] = await engine.pollTasks("payments", { workerId: "w", waitMs: 5_000 });
    await engine.failTask(first!.taskId, { message: "gateway timeout" }, true);
    const [second] = await engine.pollTasks("payments", { workerId: "w", waitMs: 5_000 });
    expect(second).toMatchObject({ idempotencyKey: "q-3:2", attempt: 2 });
    expect(second!.taskId).not.toBe(first!.taskId);
    await engine.failTask(
      second!.taskId,
      { message: "card declined", type: "CardDeclined" },
      false,
    );
    const [unhold] = await engine.pollTasks("inventory", { workerId: "w", waitMs: 5_000 });
    expect(unhold).toMatchObject({ command: "unhold", input: { holdId: "h-3" } });
    await engine.completeTask(unhold!.taskId, { ok: true });
    const run = await baton.wait("q-3");
    expect(run.status).toBe("compensated");
    expect(run.error?.message).toContain("card declined");
    expect(run.steps.find((s) => s.name === "payments.charge")).toMatchObject({
      status: "failed",
      attempts: 2,
    });
  });
});

describe("durable queue leases", () => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("delivers a task again under a new taskId with attempt + 1 when its lease expires; the old delivery gets LEASE_LOST", async () => {
    const clock = new ManualClock();
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [checkout],
      services: [payments, inventory],
      clock,
    });
    const engine = baton.engine;
    await baton.start(checkout, { orderId: "l-1" }, { runId: "l-1" });
    const [first] = await engine.pollTasks("inventory", { workerId: "dies", waitMs: 5_000 });
    expect(await engine.pollTasks("inventory", { workerId: "other" })).toEqual([]);
    await engine.heartbeatTask(first!.taskId);
    clock.advance(30_001);
    await expect(engine.heartbeatTask(first!.taskId)).rejects.toMatchObject({ code: "LEASE_LOST" });
    const [again] = await engine.pollTasks("inventory", { workerId: "other" });
    expect(again).toMatchObject({ idempotencyKey: "l-1:1", attempt: 2 });
    expect(again!.taskId).not.toBe(first!.taskId);
    await expect(engine.completeTask(first!.taskId, { holdId: "late" })).rejects.toMatchObject({
      code: "LEASE_LOST",
    });
    await engine.completeTask(again!.taskId, { holdId: "h" });
    await expect(engine.completeTask("t-unknown", {})).rejects.toMatchObject({
      code: "TASK_NOT_FOUND",
    });
    await expect(engine.pollTasks("nope", { workerId: "w" })).rejects.toMatchObject({
      code: "SERVICE_NOT_FOUND",
    });
  });

  it("wakes a long poll when a command is queued, without polling", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [checkout],
      services: [payments, inventory],
    });
    const started = Date.now();
    const polling = baton.engine.pollTasks("inventory", { workerId: "w", waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 50));
    await baton.start(checkout, { orderId: "lp-1" }, { runId: "lp-1" });
    const tasks = await polling;
    expect(tasks).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("withdraws a queued command when its run is cancelled", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [checkout],
      services: [payments, inventory],
    });
    await baton.start(checkout, { orderId: "c-1" }, { runId: "c-1" });
    await waitFor(async () => (await baton.get("c-1")).waitingOn?.kind === "task");
    await baton.cancel("c-1");
    expect((await baton.wait("c-1")).status).toBe("cancelled");
    expect(await baton.engine.pollTasks("inventory", { workerId: "w" })).toEqual([]);
  });

  it("keeps queued commands across a restart and finishes the run when a worker replies later", async () => {
    const db = fixture.db();
    const first = await fixture.open({
      db,
      workflows: [checkout],
      services: [payments, inventory],
    });
    await first.start(checkout, { orderId: "r-1" }, { runId: "r-1" });
    const [hold] = await first.engine.pollTasks("inventory", { workerId: "w", waitMs: 5_000 });
    await first.close();
    const second = await fixture.open({
      db,
      workflows: [checkout],
      services: [payments, inventory],
    });
    await second.engine.completeTask(hold!.taskId, { holdId: "h-r" });
    const [charge] = await second.engine.pollTasks("payments", { workerId: "w", waitMs: 5_000 });
    await second.engine.completeTask(charge!.taskId, { ok: 1 });
    expect(await second.result("r-1")).toEqual({ hold: { holdId: "h-r" }, charge: { ok: 1 } });
  });
});
