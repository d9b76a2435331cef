import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isTerminal, type Run } from "../../src/client/index.js";
import { OrderStack, anOrder, inconsistencies } from "./harness/order-stack.js";
import { ProcessGroup, eventually, sleep } from "./harness/processes.js";

describe("the orchestrator SIGKILLed in the middle of a stream of orders", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-crash-"));
  let stack: OrderStack;

  beforeAll(async () => {
    // Transient faults too, so that some calls are between retries when the crash comes.
    stack = await OrderStack.start(group, {
      dir,
      shippingFailRate: 0.3,
      inventoryFailRate: 0.1,
      paymentsFailRate: 0.1,
      leaseMs: 3_000,
    });
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("resumes every run after a restart on the same database, each effect once", async () => {
    const orderIds: string[] = [];
    let streaming = true;
    const place = (orderId: string): Promise<unknown> =>
      stack.client.startRun("placeOrder", anOrder(orderId), { runId: orderId });
    const stream = (async () => {
      while (streaming) {
        const orderId = `crash-${orderIds.length + 1}`;
        orderIds.push(orderId);
        // While the orchestrator is down the request fails; the order is placed again below.
        await place(orderId).catch(() => undefined);
        await sleep(30);
      }
    })();

    await sleep(2_000);
    const port = stack.port;
    stack.orchestrator.kill("SIGKILL");
    await stack.orchestrator.exited;
    await sleep(300);
    await stack.startOrchestrator(port);
    await sleep(1_000);
    streaming = false;
    await stream;

    // Starting is idempotent by run id: orders whose start was cut short now exist, once.
    for (const orderId of orderIds) await place(orderId);
    const runs = await eventually(
      "every run to end",
      async () => {
        const all: Run[] = await Promise.all(orderIds.map((id) => stack.client.getRun(id)));
        return all.every((run) => isTerminal(run.status)) ? all : undefined;
      },
      45_000,
      250,
    );
    const statuses = new Set(runs.map((run) => run.status));
    expect(statuses).toEqual(new Set(["completed", "compensated"]));
    expect(inconsistencies(runs, stack.effects())).toEqual([]);
    expect(orderIds.length).toBeGreaterThan(30);
  });
});
