import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStack, anOrder, inconsistencies } from "./harness/order-stack.js";
import { ProcessGroup, eventually } from "./harness/processes.js";

describe("a payments worker SIGKILLed while it holds a task", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-worker-crash-"));
  let stack: OrderStack;

  beforeAll(async () => {
    stack = await OrderStack.start(group, { dir, leaseMs: 1_500, workers: 0 });
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("loses its lease; the task goes to another worker and the run completes, charged once", async () => {
    // A worker that takes a minute per command: it will be holding the charge when it dies.
    const doomed = await stack.startWorker({ LATENCY_MS: "60000" });
    await stack.client.startRun("placeOrder", anOrder("held-1"), { runId: "held-1" });
    await eventually("the doomed worker to hold the charge", async () => {
      const payments = (await stack.client.services()).find((s) => s.name === "payments");
      return payments?.inFlight === 1;
    });

    doomed.kill("SIGKILL");
    await doomed.exited;
    await stack.startWorker();

    const run = await eventually(
      "the run to end",
      async () => {
        const current = await stack.client.getRun("held-1");
        return current.status === "completed" ? current : undefined;
      },
      20_000,
    );
    const charges = stack.effects().filter((e) => e.runId === "held-1" && e.command === "charge");
    // Delivered again under the same idempotency key, as attempt 2.
    expect(charges).toMatchObject([{ key: "held-1:2", attempt: 2, outcome: { ok: true } }]);
    expect(inconsistencies([run], stack.effects())).toEqual([]);
  });
});
