import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStack, anOrder } from "../demo/harness/order-stack.js";
import { ProcessGroup, eventually, type TestProcess } from "../demo/harness/processes.js";
import { ROLLBACK_WORKFLOWS, journalOf, waitForEnd } from "./support/e2e.js";

const DOOMED = "doomed-1";
const OTHERS = ["fine-1", "fine-2", "fine-3", "fine-4"];

/**
 * A poison message: one order's charge kills every payments worker that receives it. The
 * charge allows 3 attempts (`retry: { maxAttempts: 3 }`) and the queue's lease is short, and a
 * supervisor restarts the worker after each crash, as a process manager would. CONTRACT §9:
 * maxAttempts counts every delivery, so the task ends by policy instead of looping.
 */
describe("a payments worker that crashes on one order's charge", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-e2e-crashing-"));
  let stack: OrderStack;
  const exits: Array<{ code: number | null; signal: NodeJS.Signals | null }> = [];
  let supervising = true;
  let supervisor: Promise<void> | undefined;
  let current: TestProcess | undefined;

  beforeAll(async () => {
    stack = await OrderStack.start(group, {
      dir,
      workflows: ROLLBACK_WORKFLOWS,
      shippingFailRate: 0,
      leaseMs: 1_000,
      workers: 0,
      workerEnv: {
        PAYMENTS_CRASH_ON_ORDER: DOOMED,
        // One task at a time: a crash takes down the poison message only, not its neighbours.
        PAYMENTS_CONCURRENCY: "1",
      },
    });
    // The supervisor: a worker at all times, a new one as soon as the last one died.
    current = await stack.startWorker();
    supervisor = (async () => {
      while (supervising && current) {
        exits.push(await current.exited);
        if (!supervising) return;
        current = await stack.startWorker();
      }
    })().catch((e: unknown) => {
      // A worker still starting when afterAll kills everything is no failure.
      if (supervising) throw e;
    });
  });
  afterAll(async () => {
    supervising = false;
    await group.killAll();
    await supervisor;
    rmSync(dir, { recursive: true, force: true });
  });

  const chargeDeliveries = (runId: string): number[] =>
    stack
      .deliveries()
      .filter((d) => d.runId === runId && d.command === "charge")
      .map((d) => d.attempt);

  it("is delivered exactly 3 times, then the run compensates; the other orders complete", async () => {
    await stack.client.startRun("e2eCrash", anOrder(DOOMED), { runId: DOOMED });
    for (const orderId of OTHERS) {
      await stack.client.startRun("e2eCrash", anOrder(orderId), { runId: orderId });
    }

    // Ends by policy — or is delivered a 4th time, which fails at once instead of looping.
    await eventually(
      `run ${DOOMED} to end, or its charge to be delivered more than 3 times`,
      async () => {
        if (chargeDeliveries(DOOMED).length > 3) return true;
        const run = await stack.client.getRun(DOOMED);
        return (
          run.status === "compensated" || run.status === "failed" || run.status === "cancelled"
        );
      },
      60_000,
      100,
    );
    expect(
      chargeDeliveries(DOOMED),
      `deliveries of the poison charge; journal: ${(await journalOf(stack.client, DOOMED)).join(", ")}`,
    ).toEqual([1, 2, 3]);

    const run = await waitForEnd(stack.client, DOOMED);
    expect(run.status, JSON.stringify(run.error)).toBe("compensated");
    expect(run.steps.map((s) => [s.name, s.status, s.compensates])).toEqual([
      ["inventory.reserve", "completed", undefined],
      ["payments.charge", "failed", undefined],
      ["payments.refund", "completed", 2],
      ["inventory.release", "completed", 1],
    ]);
    expect(run.steps[1]!.attempts).toBe(3);
    // Never charged: the blind refund (compensateUnknown) found nothing to refund.
    const effects = stack.effects().filter((e) => e.runId === DOOMED);
    expect(effects.map((e) => `${e.command} ${e.outcome.ok ? "done" : "refused"}`).sort()).toEqual([
      "refund done",
      "release done",
      "reserve done",
    ]);
    expect(effects.find((e) => e.command === "refund")?.outcome).toMatchObject({
      ok: true,
      output: { refunded: null, amount: 0 },
    });
    // Three workers died of it, killed by their own hand, and were replaced.
    const crashes = exits.filter((exit) => exit.signal === "SIGKILL");
    expect(crashes).toHaveLength(3);

    for (const orderId of OTHERS) {
      const other = await waitForEnd(stack.client, orderId);
      expect(other.status, `${orderId}: ${JSON.stringify(other.error)}`).toBe("completed");
      expect(
        stack.effects().filter((e) => e.runId === orderId && e.command === "charge"),
      ).toHaveLength(1);
    }
    expect(exits).toHaveLength(3);
  }, 120_000);
});
