import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Run } from "../../src/client/index.js";
import { OrderStack, anOrder } from "../demo/harness/order-stack.js";
import { ProcessGroup, eventually, type TestProcess } from "../demo/harness/processes.js";
import {
  ROLLBACK_WORKFLOWS,
  findDurableEvent,
  journalOf,
  openEventStream,
  waitForEnd,
  waitForRun,
} from "./support/e2e.js";

/**
 * The order saga as real processes (inventory and shipping over HTTP, payments workers on the
 * durable queue, `baton dev` with test/e2e/fixtures/rollback-workflows.ts): shipping refuses
 * every order for good, so each run rolls back — refund through the queue, then release — and
 * the refund fails for good too, while the payments worker runs with PAYMENTS_REFUND_FAIL=1.
 * "Fixing" the refund is what an operator would do: replace the worker by one without the fault.
 */
describe("a rollback whose refund fails for good, under each policy (CONTRACT §9)", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-e2e-policies-"));
  let stack: OrderStack;
  let worker: { process: TestProcess; refunds: "failing" | "working" } | undefined;

  beforeAll(async () => {
    stack = await OrderStack.start(group, {
      dir,
      shippingFailRate: 1,
      workers: 0,
      workflows: ROLLBACK_WORKFLOWS,
    });
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One payments worker whose refunds fail for good, or work: the other one is stopped first. */
  async function useRefunds(refunds: "failing" | "working"): Promise<void> {
    if (worker?.refunds === refunds) return;
    if (worker) {
      worker.process.kill("SIGTERM");
      await worker.process.exited;
    }
    const process = await stack.startWorker({
      PAYMENTS_REFUND_FAIL: refunds === "failing" ? "1" : "0",
    });
    worker = { process, refunds };
  }

  async function placeOrder(workflow: string, orderId: string): Promise<void> {
    const { created } = await stack.client.startRun(workflow, anOrder(orderId), {
      runId: orderId,
    });
    expect(created).toBe(true);
  }

  /** What the services did for this order, as `command outcome` in the order they did it. */
  function effectsOf(runId: string): string[] {
    return stack
      .effects()
      .filter((e) => e.runId === runId)
      .sort((a, b) => a.at.localeCompare(b.at))
      .map((e) => `${e.command} ${e.outcome.ok ? "done" : "refused"}`);
  }

  function refundDeliveries(runId: string): number[] {
    return stack
      .deliveries()
      .filter((d) => d.runId === runId && d.command === "refund")
      .map((d) => d.attempt);
  }

  function stepsOf(run: Run): Array<[string, string, number | undefined]> {
    return run.steps.map((step) => [step.name, step.status, step.compensates]);
  }

  /** `POST /v1/runs/{id}/compensations/{seq}/skip` as curl would send it, for its status. */
  async function skipCompensation(runId: string, seq: number): Promise<Response> {
    return fetch(`${stack.url}/v1/runs/${encodeURIComponent(runId)}/compensations/${seq}/skip`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
  }

  const waitingForOperator = (run: Run): boolean =>
    run.status === "compensating" && run.waitingOn?.kind === "operator";

  it("terminate (the default): ends failed COMPENSATION_FAILED without releasing; retry resumes the rollback", async () => {
    await useRefunds("failing");
    await placeOrder("e2eTerminate", "terminate-1");
    const failed = await waitForEnd(stack.client, "terminate-1");

    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({
      code: "COMPENSATION_FAILED",
      details: { compensates: 2, cause: { code: "REFUND_REFUSED" } },
    });
    expect(stepsOf(failed)).toEqual([
      ["inventory.reserve", "completed", undefined],
      ["payments.charge", "completed", undefined],
      ["shipping.ship", "failed", undefined],
      ["payments.refund", "failed", 2],
    ]);
    // The remaining compensation never ran: the stock is still reserved.
    expect(effectsOf("terminate-1")).toEqual(["reserve done", "charge done", "ship refused"]);
    expect(refundDeliveries("terminate-1")).toEqual([1]);

    // The operator fixes payments and retries the run: the rollback resumes where it stopped.
    await useRefunds("working");
    await stack.client.retry("terminate-1");
    const resumed = await waitForEnd(stack.client, "terminate-1");
    expect(resumed.status, JSON.stringify(await journalOf(stack.client, "terminate-1"))).toBe(
      "compensated",
    );
    expect(resumed.error).toMatchObject({ code: "ADDRESS_UNDELIVERABLE" });
    expect(effectsOf("terminate-1")).toEqual([
      "reserve done",
      "charge done",
      "ship refused",
      "refund done",
      "release done",
    ]);
  });

  it("retry: stays compensating, waiting on kind retry, until the refund works, then compensated", async () => {
    await useRefunds("failing");
    await placeOrder("e2eRetry", "retry-1");
    // Two refused refunds at least: it keeps trying, and says so.
    const waiting = await waitForRun(
      stack.client,
      "retry-1",
      "to wait for the second retry of its refund",
      (run) =>
        run.status === "compensating" &&
        run.waitingOn?.kind === "retry" &&
        refundDeliveries("retry-1").length >= 2,
      30_000,
    );
    expect(waiting.waitingOn).toMatchObject({
      kind: "retry",
      compensates: 2,
      lastError: { code: "REFUND_REFUSED" },
    });
    expect(typeof waiting.waitingOn?.until).toBe("string");
    expect(effectsOf("retry-1")).toEqual(["reserve done", "charge done", "ship refused"]);
    const journal = await journalOf(stack.client, "retry-1");
    expect(journal.filter((e) => e === "compensation.failed").length).toBeGreaterThanOrEqual(1);

    await useRefunds("working");
    // Backoff 1 s, 2 s, 4 s, 8 s…: the next attempt finds the fixed worker.
    const run = await waitForEnd(stack.client, "retry-1", 45_000);
    expect(run.status, JSON.stringify(await journalOf(stack.client, "retry-1"))).toBe(
      "compensated",
    );
    expect(run.error).toMatchObject({ code: "ADDRESS_UNDELIVERABLE" });
    expect(effectsOf("retry-1")).toEqual([
      "reserve done",
      "charge done",
      "ship refused",
      "refund done",
      "release done",
    ]);
    // Refused twice or more, then done: every try reached the worker.
    expect(refundDeliveries("retry-1").length).toBeGreaterThanOrEqual(3);
  });

  it("skip: releases the stock anyway and ends failed PARTIALLY_COMPENSATED naming what was not undone", async () => {
    await useRefunds("failing");
    await placeOrder("e2eSkip", "skip-1");
    const run = await waitForEnd(stack.client, "skip-1");

    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({
      code: "PARTIALLY_COMPENSATED",
      details: { skipped: [{ seq: 2, error: { code: "REFUND_REFUSED" } }] },
    });
    const skipped = (run.error?.details as { skipped: Array<{ name: string }> }).skipped;
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.name).toMatch(/^payments\./);
    expect(run.error?.message).toMatch(/payments\./);
    expect(effectsOf("skip-1")).toEqual([
      "reserve done",
      "charge done",
      "ship refused",
      "release done",
    ]);
    // The journal records the refused refund and the decision to go on. CONTRACT §9 names the
    // entry compensation.skipped; the run core writes compensation.failed {decision: "skip"}.
    const history = await stack.client.history("skip-1");
    const recorded = history.filter(
      (e) =>
        e.type === "compensation.skipped" ||
        (e.type === "compensation.failed" &&
          (e.data as { decision?: string } | undefined)?.decision === "skip"),
    );
    expect(recorded, JSON.stringify(history)).toHaveLength(1);
    expect(recorded[0]!.data).toMatchObject({ seq: 2 });
  });

  it("event: publishes compensation.failed and waits for an operator, whose skip ends it PARTIALLY_COMPENSATED", async () => {
    await useRefunds("failing");
    // A consumer following the live stream sees the event as it is published.
    const live = await openEventStream(stack.url, "topic=compensation.failed");
    await placeOrder("e2eEvent", "event-skip-1");
    const waiting = await waitForRun(
      stack.client,
      "event-skip-1",
      "to wait for an operator",
      waitingForOperator,
    );
    expect(waiting.waitingOn).toMatchObject({ kind: "operator", compensates: 2 });
    const event = await findDurableEvent(
      stack.url,
      "compensation.failed",
      (e) => e.runId === "event-skip-1",
    );
    expect(event).toMatchObject({
      type: "compensation.failed",
      workflow: "e2eEvent",
      data: { seq: 2, attempt: 1, error: { code: "REFUND_REFUSED" } },
    });
    expect(typeof event.id).toBe("number");
    const liveEvent = await live
      .find((e) => e.runId === "event-skip-1")
      .finally(() => live.close());
    expect(liveEvent).toMatchObject({ type: "compensation.failed", runId: "event-skip-1" });
    // The run waits: nothing more is undone until the operator acts.
    expect(effectsOf("event-skip-1")).toEqual(["reserve done", "charge done", "ship refused"]);

    const wrongSeq = await skipCompensation("event-skip-1", 1);
    expect(wrongSeq.status).toBe(409);
    expect(((await wrongSeq.json()) as { error: { code: string } }).error.code).toBe(
      "NO_FAILED_COMPENSATION",
    );
    await stack.client.skipCompensation("event-skip-1", 2);

    const run = await waitForEnd(stack.client, "event-skip-1");
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({
      code: "PARTIALLY_COMPENSATED",
      details: { skipped: [{ seq: 2 }] },
    });
    expect(effectsOf("event-skip-1")).toEqual([
      "reserve done",
      "charge done",
      "ship refused",
      "release done",
    ]);
    expect(await journalOf(stack.client, "event-skip-1")).toContain("compensation.skipped");
    expect(refundDeliveries("event-skip-1")).toEqual([1]);
  });

  it("event: cancel while it waits for an operator ends it failed COMPENSATION_FAILED", async () => {
    await useRefunds("failing");
    await placeOrder("e2eEvent", "event-cancel-1");
    await waitForRun(stack.client, "event-cancel-1", "to wait for an operator", waitingForOperator);
    await stack.client.cancel("event-cancel-1", { reason: "operator gives up" });

    const run = await waitForEnd(stack.client, "event-cancel-1");
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "COMPENSATION_FAILED", details: { compensates: 2 } });
    expect(effectsOf("event-cancel-1")).toEqual(["reserve done", "charge done", "ship refused"]);
  });

  it("event: retry through the API once the refund is fixed runs it again and ends compensated", async () => {
    await useRefunds("failing");
    await placeOrder("e2eEvent", "event-retry-1");
    await waitForRun(stack.client, "event-retry-1", "to wait for an operator", waitingForOperator);
    await findDurableEvent(stack.url, "compensation.failed", (e) => e.runId === "event-retry-1");

    await useRefunds("working");
    await stack.client.retry("event-retry-1");
    const run = await waitForEnd(stack.client, "event-retry-1");
    expect(run.status, JSON.stringify(await journalOf(stack.client, "event-retry-1"))).toBe(
      "compensated",
    );
    expect(effectsOf("event-retry-1")).toEqual([
      "reserve done",
      "charge done",
      "ship refused",
      "refund done",
      "release done",
    ]);
    expect(refundDeliveries("event-retry-1")).toHaveLength(2);
    const refund = stack
      .effects()
      .find((e) => e.runId === "event-retry-1" && e.command === "refund");
    expect(refund?.outcome).toMatchObject({
      ok: true,
      output: { refunded: "pay-event-retry-1:2", amount: 78 },
    });
    // Nothing else was left waiting in the queue.
    await eventually("the payments queue to drain", async () => {
      const payments = (await stack.client.services()).find((s) => s.name === "payments");
      return payments?.queueDepth === 0 && payments.inFlight === 0;
    });
  });
});
