import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Run } from "../../src/client/index.js";
import { OrderStack, anOrder } from "../demo/harness/order-stack.js";
import { ProcessGroup, type TestProcess } from "../demo/harness/processes.js";
import {
  ROLLBACK_WORKFLOWS,
  findDurableEvent,
  journalOf,
  waitForEnd,
  waitForRun,
} from "./support/e2e.js";

/**
 * A rollback stopped at a failed refund is durable: the orchestrator SIGKILLed while runs wait
 * for an operator (policy `event`), for the next try of their refund (policy `retry`), or sit
 * `failed` (policy `terminate`) comes back on the same database with each run where it was,
 * nothing published or undone twice, and each run finishes its rollback once refunds work.
 */
describe("rollbacks stopped at a failed refund, across an orchestrator crash", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-e2e-rollback-restart-"));
  let stack: OrderStack;
  let worker: TestProcess;

  beforeAll(async () => {
    stack = await OrderStack.start(group, {
      dir,
      workflows: ROLLBACK_WORKFLOWS,
      shippingFailRate: 1,
      workers: 0,
    });
    worker = await stack.startWorker({ PAYMENTS_REFUND_FAIL: "1" });
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  const refundEffects = (runId: string): number =>
    stack.effects().filter((e) => e.runId === runId && e.command === "refund").length;
  const releaseEffects = (runId: string): number =>
    stack.effects().filter((e) => e.runId === runId && e.command === "release").length;

  it("keeps each run where it was, and each finishes its rollback once, after the refund is fixed", async () => {
    const place = (workflow: string, runId: string) =>
      stack.client.startRun(workflow, anOrder(runId), { runId });
    await place("e2eEvent", "r-event");
    await place("e2eRetry", "r-retry");
    await place("e2eTerminate", "r-terminate");
    const before = {
      event: await waitForRun(
        stack.client,
        "r-event",
        "to wait for an operator",
        (run) => run.waitingOn?.kind === "operator",
      ),
      retry: await waitForRun(
        stack.client,
        "r-retry",
        "to wait for the next try of its refund",
        (run) => run.waitingOn?.kind === "retry",
      ),
      terminate: await waitForEnd(stack.client, "r-terminate"),
    };
    expect(before.terminate).toMatchObject({
      status: "failed",
      error: { code: "COMPENSATION_FAILED" },
    });
    await findDurableEvent(stack.url, "compensation.failed", (e) => e.runId === "r-event");

    const port = stack.port;
    stack.orchestrator.kill("SIGKILL");
    await stack.orchestrator.exited;
    await stack.startOrchestrator(port);

    const after = {
      event: await stack.client.getRun("r-event"),
      retry: await stack.client.getRun("r-retry"),
      terminate: await stack.client.getRun("r-terminate"),
    };
    const where = (run: Run) => ({
      status: run.status,
      kind: run.waitingOn?.kind,
      compensates: run.waitingOn?.compensates,
    });
    expect(where(after.event)).toEqual(where(before.event));
    expect(where(after.event)).toEqual({
      status: "compensating",
      kind: "operator",
      compensates: 2,
    });
    // Waiting for its next try, or trying (the refund out to a worker) if that came due.
    expect(after.retry.status, JSON.stringify(after.retry.waitingOn)).toBe("compensating");
    expect(["retry", "task"]).toContain(after.retry.waitingOn?.kind);
    expect(after.terminate).toMatchObject({
      status: "failed",
      error: { code: "COMPENSATION_FAILED" },
    });
    // The retry run keeps trying after the restart: another refused refund, still waiting.
    const refusedBefore = stack
      .deliveries()
      .filter((d) => d.runId === "r-retry" && d.command === "refund").length;
    await waitForRun(
      stack.client,
      "r-retry",
      "to try its refund again after the restart",
      (run) =>
        run.waitingOn?.kind === "retry" &&
        stack.deliveries().filter((d) => d.runId === "r-retry" && d.command === "refund").length >
          refusedBefore,
    );

    // Payments fixed: the operator retries the waiting and the failed run.
    worker.kill("SIGTERM");
    await worker.exited;
    worker = await stack.startWorker();
    await stack.client.retry("r-event");
    await stack.client.retry("r-terminate");
    for (const runId of ["r-event", "r-retry", "r-terminate"]) {
      const run = await waitForEnd(stack.client, runId, 45_000);
      expect(run.status, `${runId}: ${(await journalOf(stack.client, runId)).join(", ")}`).toBe(
        "compensated",
      );
      expect(refundEffects(runId), runId).toBe(1);
      expect(releaseEffects(runId), runId).toBe(1);
    }
    // One compensation.failed event for the event run, though its journal was replayed.
    const journal = await stack.client.history("r-event");
    const decisions = journal.filter((e) => e.type === "compensation.failed");
    expect(decisions, JSON.stringify(journal)).toHaveLength(1);
    const published: number[] = [];
    // Read from the beginning up to the run's end (run.failed: it ended compensated).
    await findDurableEvent(stack.url, "run.failed,compensation.failed", (e) => {
      if (e.type === "compensation.failed" && e.runId === "r-event") published.push(e.id ?? -1);
      return e.runId === "r-event" && e.type === "run.failed";
    });
    expect(published).toHaveLength(1);
  }, 120_000);
});
