import { afterEach, describe, expect, it } from "vitest";
import {
  StepFailedError,
  queue,
  service,
  workflow,
  type BatonEvent,
  type CompensationFailurePolicy,
} from "../../src/index.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

/** What the saga's compensations did, per run. */
const effects: Record<string, string[]> = {};
const note = (runId: string, what: string): void => {
  (effects[runId] ??= []).push(what);
};
let refundBroken = true;

function orderSaga(name: string, policy: CompensationFailurePolicy) {
  return workflow(
    name,
    async (ctx, input: { orderId: string }) => {
      await ctx.step("reserve", () => ({ reservationId: `r-${input.orderId}` }), {
        compensate: () => ctx.step("release", () => note(ctx.runId, "release")),
      });
      await ctx.step("charge", () => ({ paymentId: `p-${input.orderId}` }), {
        compensate: () =>
          ctx.step(
            "refund",
            () => {
              if (refundBroken)
                throw new StepFailedError("refund service refuses", { code: "REFUND_REFUSED" });
              note(ctx.runId, "refund");
            },
            { retry: { maxAttempts: 1 } },
          ),
      });
      await ctx.step("ship", () => {
        throw new StepFailedError("address unknown", { code: "NO_ADDRESS" });
      });
    },
    { onCompensationFailure: policy },
  );
}

const terminate = orderSaga("terminateSaga", "terminate");
const skip = orderSaga("skipSaga", "skip");
const retry = orderSaga("retrySaga", "retry");
const event = orderSaga("eventSaga", "event");

describe.each(EXECUTION_MODES)("rolling back ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());
  const open = () =>
    fixture.open({
      db: fixture.db(),
      workflows: [terminate, skip, retry, event],
      replayAfterEveryOp,
    });
  const id = (base: string): string => `${base}-${replayAfterEveryOp ? "r" : "l"}`;

  it("terminate: stops at the failed refund; release never runs; retry resumes the rollback", async () => {
    refundBroken = true;
    const baton = await open();
    const runId = id("t-1");
    await baton.start(terminate, { orderId: runId }, { runId });
    const run = await baton.wait(runId, 10_000);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "COMPENSATION_FAILED", details: { compensates: 2 } });
    expect(effects[runId]).toBeUndefined();
    refundBroken = false;
    await baton.retry(runId);
    await waitFor(async () => (await baton.get(runId)).status === "compensated", {
      what: "compensated",
    });
    expect(effects[runId]).toEqual(["refund", "release"]);
  });

  it("skip: records the failed refund, releases, ends PARTIALLY_COMPENSATED naming the refund", async () => {
    refundBroken = true;
    const baton = await open();
    const runId = id("s-1");
    await baton.start(skip, { orderId: runId }, { runId });
    const run = await baton.wait(runId, 10_000);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({
      code: "PARTIALLY_COMPENSATED",
      details: { skipped: [{ seq: 2, name: "charge", error: { code: "REFUND_REFUSED" } }] },
    });
    expect(effects[runId]).toEqual(["release"]);
    expect((await baton.history(runId)).map((e) => e.type)).toContain("compensation.failed");
  });

  it("retry: keeps retrying the refund until it works, saying so in waitingOn", async () => {
    refundBroken = true;
    const baton = await open();
    const runId = id("r-1");
    await baton.start(retry, { orderId: runId }, { runId });
    const waiting = await waitFor(
      async () => {
        const r = await baton.get(runId);
        return r.waitingOn?.kind === "retry" && r.waitingOn.compensates === 2 ? r : undefined;
      },
      { what: "a retry wait on the refund" },
    );
    expect(waiting.status).toBe("compensating");
    expect(waiting.waitingOn).toMatchObject({ lastError: { code: "REFUND_REFUSED" } });
    refundBroken = false;
    await waitFor(async () => (await baton.get(runId)).status === "compensated", {
      what: "compensated",
      timeoutMs: 15_000,
    });
    expect(effects[runId]).toEqual(["refund", "release"]);
  });

  it("event: publishes compensation.failed, waits for an operator; skip or retry moves it on", async () => {
    refundBroken = true;
    const baton = await open();
    const seen: BatonEvent[] = [];
    baton.on((e) => {
      if (e.type === "compensation.failed") seen.push(e);
    });
    const skipped = id("e-1");
    const retried = id("e-2");
    await baton.start(event, { orderId: skipped }, { runId: skipped });
    await baton.start(event, { orderId: retried }, { runId: retried });
    for (const runId of [skipped, retried]) {
      const run = await waitFor(
        async () => {
          const r = await baton.get(runId);
          return r.waitingOn?.kind === "operator" ? r : undefined;
        },
        { what: `${runId} waiting on an operator` },
      );
      expect(run).toMatchObject({ status: "compensating", waitingOn: { compensates: 2 } });
    }
    await waitFor(() => seen.length >= 2, { what: "two compensation.failed events" });
    expect(seen[0]).toMatchObject({
      data: { seq: 2, name: "charge", error: { code: "REFUND_REFUSED" } },
    });
    const durable = await baton.engine.readEvents(0, 100);
    expect(durable.filter((e) => e.type === "compensation.failed")).toHaveLength(2);

    await expect(baton.skipCompensation(skipped, 1)).rejects.toMatchObject({
      code: "NO_FAILED_COMPENSATION",
    });
    await baton.skipCompensation(skipped, 2);
    await waitFor(async () => (await baton.get(skipped)).status === "failed", {
      what: "skipped run failed",
    });
    expect((await baton.get(skipped)).error?.code).toBe("PARTIALLY_COMPENSATED");
    expect(effects[skipped]).toEqual(["release"]);

    refundBroken = false;
    await baton.retry(retried);
    await waitFor(async () => (await baton.get(retried)).status === "compensated", {
      what: "compensated",
    });
    expect(effects[retried]).toEqual(["refund", "release"]);
  });

  it("cancel while waiting on an operator terminates the rollback", async () => {
    refundBroken = true;
    const baton = await open();
    const runId = id("e-3");
    await baton.start(event, { orderId: runId }, { runId });
    await waitFor(async () => (await baton.get(runId)).waitingOn?.kind === "operator", {
      what: "operator wait",
    });
    await baton.cancel(runId, "give up");
    await waitFor(async () => (await baton.get(runId)).status === "failed", { what: "failed" });
    expect((await baton.get(runId)).error).toMatchObject({ code: "COMPENSATION_FAILED" });
    expect(effects[runId]).toBeUndefined();
  });
});

const payments = service("payments", queue({ leaseMs: 5_000 }));
const charged = workflow(
  "chargedOrder",
  async (ctx, input: { orderId: string }) => {
    await ctx.call(payments, "charge", input, {
      compensate: (p) => ctx.call(payments, "refund", p),
    });
    await ctx.sleep(60_000);
  },
  { retry: { maxAttempts: 2, initialIntervalMs: 1 } },
);
const slow = workflow(
  "slowOrder",
  async (ctx, input: { orderId: string }) => {
    await ctx.step("reserve", () => ({ ok: true }), {
      compensate: () => ctx.step("release", () => note(ctx.runId, "release")),
    });
    await ctx.sleep(60_000);
    return input;
  },
  { deadline: 300 },
);
const hanging = (compensateUnknown: boolean) =>
  workflow(compensateUnknown ? "hangingUndone" : "hangingLeft", async (ctx) => {
    await ctx.step(
      "charge",
      () => new Promise(() => {}), // never answers: the attempt times out, outcome unknown
      {
        timeout: 50,
        retry: { maxAttempts: 1 },
        compensateUnknown,
        compensate: (output) =>
          ctx.step("refund", () => note(ctx.runId, `refund ${JSON.stringify(output ?? null)}`)),
      },
    );
  });

describe.each(EXECUTION_MODES)("settling before rolling back ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());
  const open = () =>
    fixture.open({
      db: fixture.db(),
      workflows: [charged, slow, hanging(true), hanging(false)],
      services: [payments],
      replayAfterEveryOp,
    });
  const id = (base: string): string => `${base}-${replayAfterEveryOp ? "r" : "l"}`;

  it("a cancel waits for the charge a worker holds, then refunds it", async () => {
    const baton = await open();
    const runId = id("c-1");
    await baton.start(charged, { orderId: runId }, { runId });
    const [charge] = await baton.engine.pollTasks("payments", { workerId: "w", waitMs: 5_000 });
    await baton.cancel(runId, "customer changed their mind");
    // The worker still holds the charge: the run may not end while it could land.
    const waiting = await waitFor(
      async () => {
        const r = await baton.get(runId);
        return r.status === "compensating" && r.waitingOn?.kind === "task" ? r : undefined;
      },
      { what: "compensating, waiting on the worker" },
    );
    expect(waiting.waitingOn).toMatchObject({ service: "payments" });
    await baton.engine.completeTask(charge!.taskId, { paymentId: "p-1" });
    const [refund] = await baton.engine.pollTasks("payments", { workerId: "w", waitMs: 5_000 });
    expect(refund).toMatchObject({ command: "refund", input: { paymentId: "p-1" } });
    await baton.engine.completeTask(refund!.taskId, { refunded: true });
    const run = await baton.wait(runId, 10_000);
    expect(run, JSON.stringify(await baton.history(runId))).toMatchObject({
      status: "cancelled",
      error: { code: "CANCELLED" },
    });
  });

  it("a cancel withdraws a charge no worker has taken: never delivered, nothing to refund", async () => {
    const baton = await open();
    const runId = id("c-2");
    await baton.start(charged, { orderId: runId }, { runId });
    await waitFor(async () => (await baton.get(runId)).waitingOn?.kind === "task", {
      what: "queued",
    });
    await baton.cancel(runId);
    const run = await baton.wait(runId, 10_000);
    expect(run.status).toBe("cancelled");
    expect(await baton.engine.pollTasks("payments", { workerId: "w", waitMs: 0 })).toEqual([]);
    expect(run.steps.find((s) => s.name === "payments.charge")).toMatchObject({
      status: "failed",
      error: { code: "WITHDRAWN" },
    });
  });

  it("a run past its deadline rolls back with DEADLINE_EXCEEDED", async () => {
    const baton = await open();
    const runId = id("d-1");
    await baton.start(slow, { orderId: runId }, { runId });
    const run = await baton.wait(runId, 10_000);
    expect(run).toMatchObject({ status: "compensated", error: { code: "DEADLINE_EXCEEDED" } });
    expect(effects[runId]).toEqual(["release"]);
  });

  it("a start's deadline overrides the workflow's", async () => {
    const baton = await open();
    const runId = id("d-2");
    await baton.start(charged, { orderId: runId }, { runId, deadline: 200 });
    const run = await baton.wait(runId, 10_000);
    // The charge was never taken by a worker: withdrawn, nothing to compensate.
    expect(run).toMatchObject({ status: "failed", error: { code: "DEADLINE_EXCEEDED" } });
    await expect(baton.start(charged, { orderId: "x" }, { deadline: -1 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("a timed-out charge is an unknown outcome: compensated with compensateUnknown, else UNKNOWN_OUTCOME", async () => {
    const baton = await open();
    const undone = id("u-1");
    const left = id("u-2");
    await baton.start("hangingUndone", {}, { runId: undone });
    await baton.start("hangingLeft", {}, { runId: left });
    expect(await baton.wait(undone, 10_000)).toMatchObject({
      status: "compensated",
      error: { code: "STEP_TIMEOUT" },
    });
    expect(effects[undone]).toEqual(["refund null"]);
    const run = await baton.wait(left, 10_000);
    expect(run).toMatchObject({
      status: "failed",
      error: { code: "UNKNOWN_OUTCOME", details: { unknown: [{ seq: 1, name: "charge" }] } },
    });
    expect(effects[left]).toBeUndefined();
  });
});
