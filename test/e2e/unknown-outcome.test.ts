import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClientError, type Task } from "../../src/client/index.js";
import { OrderStack, anOrder } from "../demo/harness/order-stack.js";
import { ProcessGroup, eventually } from "../demo/harness/processes.js";
import { ROLLBACK_WORKFLOWS, journalOf, waitForEnd, waitForRun } from "./support/e2e.js";

/**
 * CONTRACT §9, unknown outcomes and time limits, over HTTP. The test itself is the payments
 * worker here (CONTRACT §5: any language that speaks HTTP), so it can hold a charge, stay silent
 * past its lease, and answer late — what a worker that hangs or dies does.
 */
describe("rolling back while a worker holds a command (CONTRACT §9)", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-e2e-unknown-"));
  let stack: OrderStack;

  beforeAll(async () => {
    stack = await OrderStack.start(group, {
      dir,
      workflows: ROLLBACK_WORKFLOWS,
      shippingFailRate: 0,
      leaseMs: 1_000,
      workers: 0,
    });
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Takes the next payments task, waiting up to 10 s for one. */
  async function takeTask(workerId: string): Promise<Task> {
    const [task] = await stack.client.pollTasks("payments", { workerId, max: 1, waitSeconds: 10 });
    if (!task) throw new Error(`${workerId} was given no payments task within 10 s`);
    return task;
  }

  function inventoryEffectsOf(runId: string): string[] {
    return stack
      .effects()
      .filter((e) => e.runId === runId && e.service === "inventory")
      .map((e) => `${e.command} ${e.outcome.ok ? "done" : "refused"}`);
  }

  it("a start's deadline passing while the charge is queued withdraws it and compensates", async () => {
    const response = await fetch(`${stack.url}/v1/workflows/e2eConserve/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runId: "late-1", input: anOrder("late-1"), deadline: 1_500 }),
    });
    expect(response.status).toBe(201);
    const run = await waitForEnd(stack.client, "late-1");
    expect(run.status, JSON.stringify(await journalOf(stack.client, "late-1"))).toBe("compensated");
    expect(run.error).toMatchObject({ code: "DEADLINE_EXCEEDED" });
    expect(run.steps.find((s) => s.name === "payments.charge")).toMatchObject({
      status: "failed",
      error: { code: "WITHDRAWN" },
    });
    expect(inventoryEffectsOf("late-1")).toEqual(["reserve done", "release done"]);
    // Withdrawn means never delivered: a worker that comes now finds nothing of it.
    const tasks = await stack.client.pollTasks("payments", { workerId: "w-late", waitSeconds: 0 });
    expect(tasks).toEqual([]);
  });

  it("a deadline passing while a worker holds the charge awaits its answer, then refunds it", async () => {
    await stack.client.startRun("e2eConserve", anOrder("held-1"), {
      runId: "held-1",
      deadline: 300,
    });
    const charge = await takeTask("w-slow");
    expect(charge).toMatchObject({ command: "charge", runId: "held-1" });
    // A live worker keeps its lease while it works.
    const heartbeats = setInterval(() => {
      stack.client.heartbeatTask(charge.taskId).catch(() => undefined);
    }, 200);
    try {
      await eventually("the deadline to pass", async () =>
        (await stack.client.history("held-1")).some((e) => e.type === "run.deadline_exceeded"),
      );
      const waiting = await stack.client.getRun("held-1");
      expect(waiting.status, JSON.stringify(waiting)).not.toMatch(/completed|compensated|failed/);
      await stack.client.completeTask(charge.taskId, {
        paymentId: "pay-held-1",
        amount: 78,
        orderId: "held-1",
      });
    } finally {
      clearInterval(heartbeats);
    }
    // The charge completed while the run settled: it is refunded like any other.
    const refund = await takeTask("w-slow");
    expect(refund).toMatchObject({
      command: "refund",
      input: { orderId: "held-1", paymentId: "pay-held-1" },
    });
    await stack.client.completeTask(refund.taskId, {
      orderId: "held-1",
      refunded: "pay-held-1",
      amount: 78,
    });
    const run = await waitForEnd(stack.client, "held-1");
    expect(run).toMatchObject({ status: "compensated", error: { code: "DEADLINE_EXCEEDED" } });
    expect(inventoryEffectsOf("held-1")).toEqual(["reserve done", "release done"]);
  });

  it("a cancel awaits the charge a silent worker holds; when the lease runs out it refunds blindly (compensateUnknown), and the late reply gets 409", async () => {
    await stack.client.startRun("e2eConserve", anOrder("silent-1"), { runId: "silent-1" });
    const charge = await takeTask("w-silent");
    expect(charge).toMatchObject({ command: "charge", runId: "silent-1", attempt: 1 });
    await stack.client.cancel("silent-1", { reason: "customer changed their mind" });
    const settling = await waitForRun(
      stack.client,
      "silent-1",
      "to wait for the worker holding its charge",
      (run) => run.status === "compensating" || run.status === "waiting",
    );
    expect(settling.status).not.toBe("cancelled");

    // The lease (1 s) runs out with no word from the worker: the outcome is unknown, so the
    // next payments task is the blind refund — not the charge once more.
    const next = await takeTask("w-other");
    expect(
      { command: next.command, attempt: next.attempt, input: next.input },
      `the task after the lease ran out; journal: ${(await journalOf(stack.client, "silent-1")).join(", ")}`,
    ).toEqual({ command: "refund", attempt: 1, input: { orderId: "silent-1" } });
    await stack.client.completeTask(next.taskId, {
      orderId: "silent-1",
      refunded: null,
      amount: 0,
    });

    const late = await stack.client.completeTask(charge.taskId, { paymentId: "too-late" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(late).toBeInstanceOf(BatonClientError);
    expect(late).toMatchObject({ code: "LEASE_LOST" });

    const run = await waitForEnd(stack.client, "silent-1");
    expect(run.status).toBe("cancelled");
    expect(run.steps.map((s) => [s.name, s.status, s.compensates])).toEqual([
      ["inventory.reserve", "completed", undefined],
      ["payments.charge", "failed", undefined],
      ["payments.refund", "completed", 2],
      ["inventory.release", "completed", 1],
    ]);
    expect(inventoryEffectsOf("silent-1")).toEqual(["reserve done", "release done"]);
  });

  it("without compensateUnknown the same run ends failed UNKNOWN_OUTCOME naming the charge, the stock released", async () => {
    await stack.client.startRun("e2eTerminate", anOrder("silent-2"), { runId: "silent-2" });
    const charge = await takeTask("w-silent");
    expect(charge).toMatchObject({ command: "charge", runId: "silent-2" });
    await stack.client.cancel("silent-2");

    // Nothing else to deliver: not the charge again, and no refund. The lease is 1 s.
    const run = await waitForEnd(stack.client, "silent-2", 15_000);
    expect(run.status, JSON.stringify(await journalOf(stack.client, "silent-2"))).toBe("failed");
    expect(run.error).toMatchObject({
      code: "UNKNOWN_OUTCOME",
      details: { unknown: [{ seq: 2, name: "payments.charge" }] },
    });
    expect(inventoryEffectsOf("silent-2")).toEqual(["reserve done", "release done"]);
    const tasks = await stack.client.pollTasks("payments", { workerId: "w-other", waitSeconds: 0 });
    expect(tasks).toEqual([]);
  });
});
