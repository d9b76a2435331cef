import { afterEach, describe, expect, it } from "vitest";
import { queue, service, workflow, type Baton } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import type { Task } from "../../src/worker/index.js";
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
    // Lets the poll find the queue empty and start waiting: the test is about being woken, and
    // passes just the same (less strictly) if the command is queued before the poll looks.
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

describe.each(EXECUTION_MODES)("durable queue bounds ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  const stock = service("stock", queue());
  const mute = service("mute", queue({ leaseMs: 200 }));
  const unstaffed = service("unstaffed", queue());
  const quickRetry = { initialIntervalMs: 1, maxIntervalMs: 5 };

  const reserveThen =
    (call: (ctx: Parameters<Parameters<typeof workflow>[1]>[0]) => Promise<unknown>) =>
    async (ctx: Parameters<Parameters<typeof workflow>[1]>[0]) => {
      await ctx.call<{ reservation: string }>(
        stock,
        "reserve",
        {},
        {
          compensate: (r) => ctx.call(stock, "release", r),
        },
      );
      await call(ctx);
    };

  const neverAnswered = workflow(
    "neverAnswered",
    reserveThen((ctx) => ctx.call(mute, "work", {}, { retry: { maxAttempts: 3, ...quickRetry } })),
  );
  const neverClaimed = workflow(
    "neverClaimed",
    reserveThen((ctx) =>
      ctx.call(
        unstaffed,
        "work",
        {},
        { queueTimeout: 100, retry: { maxAttempts: 2, ...quickRetry } },
      ),
    ),
  );

  /** Completes the reservation, then the release the rollback sends. */
  async function serveStock(engine: Baton["engine"]): Promise<void> {
    const [reserve] = await engine.pollTasks("stock", { workerId: "stock", waitMs: 10_000 });
    expect(reserve).toMatchObject({ command: "reserve" });
    await engine.completeTask(reserve!.taskId, { reservation: "s-1" });
    const [release] = await engine.pollTasks("stock", { workerId: "stock", waitMs: 10_000 });
    expect(release).toMatchObject({ command: "release", input: { reservation: "s-1" } });
    await engine.completeTask(release!.taskId, { ok: true });
  }

  it("delivers a task that is never answered exactly maxAttempts times, then fails the call and compensates", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [neverAnswered],
      services: [stock, mute],
      replayAfterEveryOp,
    });
    const engine = baton.engine;
    await baton.start(neverAnswered, {}, { runId: "na-1" });
    const deliveries: Task[] = [];
    let stopped = false;
    // A worker that takes every delivery and never answers (it crashes each time, say).
    const muteWorker = (async () => {
      while (!stopped)
        deliveries.push(...(await engine.pollTasks("mute", { workerId: "mute", waitMs: 300 })));
    })();
    await serveStock(engine);
    const run = await baton.wait("na-1");
    stopped = true;
    await muteWorker;

    expect(run.status).toBe("compensated");
    expect(deliveries.map((d) => d.attempt)).toEqual([1, 2, 3]);
    expect(new Set(deliveries.map((d) => d.taskId)).size).toBe(3);
    expect(run.steps.find((s) => s.name === "mute.work")).toMatchObject({
      status: "failed",
      attempts: 3,
      error: { code: "LEASE_EXPIRED" },
    });
    expect(run.error?.message).toContain("no reply within its lease");
    // A taskId is not guessable: the right task and attempt with another token names nothing.
    const last = deliveries[2]!.taskId;
    const forged = last.slice(0, -1) + (last.endsWith("0") ? "1" : "0");
    await expect(engine.heartbeatTask(forged)).rejects.toMatchObject({ code: "TASK_NOT_FOUND" });
    // The last delivery's reply comes too late: its outcome was already settled as unknown.
    await expect(engine.completeTask(deliveries[2]!.taskId, {})).rejects.toMatchObject({
      code: "LEASE_LOST",
    });
  });

  it("fails an attempt nobody claims within queueTimeout with QUEUE_TIMEOUT, retries it by policy, then compensates", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [neverClaimed],
      services: [stock, unstaffed],
      replayAfterEveryOp,
    });
    await baton.start(neverClaimed, {}, { runId: "nc-1" });
    await serveStock(baton.engine);
    const run = await baton.wait("nc-1");

    expect(run.status).toBe("compensated");
    expect(run.error).toMatchObject({ code: "QUEUE_TIMEOUT" });
    expect(run.error?.message).toContain("no worker claimed it within 100 ms");
    const history = await baton.history("nc-1");
    expect(history.filter((e) => e.type === "call.attempt_failed")).toHaveLength(1);
    expect(run.steps.find((s) => s.name === "unstaffed.work")).toMatchObject({ status: "failed" });
  });
});
