import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Run } from "../../src/client/index.js";
import { OrderStack, anOrder, inconsistencies } from "./harness/order-stack.js";
import { ProcessGroup, eventually, sleep } from "./harness/processes.js";

describe("payments workers away for five seconds", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-outage-"));
  let stack: OrderStack;

  beforeAll(async () => {
    stack = await OrderStack.start(group, { dir, shippingFailRate: 0.3 });
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the charges queued, then every run completes once the workers are back, each effect once", async () => {
    const [worker] = stack.workers;
    worker!.kill("SIGTERM");
    expect(await worker!.exited).toMatchObject({ code: 0 });

    const orderIds: string[] = [];
    const outageEnds = Date.now() + 5_000;
    while (Date.now() < outageEnds) {
      const orderId = `outage-${orderIds.length + 1}`;
      orderIds.push(orderId);
      await stack.client.startRun("placeOrder", anOrder(orderId), { runId: orderId });
      await sleep(200);
    }

    // Every order got as far as its charge, which waits in the queue for a worker.
    const queued = await eventually("every charge to be queued", async () => {
      const payments = (await stack.client.services()).find((s) => s.name === "payments");
      return payments && payments.queueDepth === orderIds.length ? payments : undefined;
    });
    expect(queued).toMatchObject({ transport: "queue", inFlight: 0 });
    const waiting = await stack.client.getRun(orderIds[0]!);
    expect(waiting.status).toBe("waiting");
    expect(waiting.waitingOn).toMatchObject({ kind: "task", service: "payments" });
    expect(stack.effects().filter((e) => e.service === "payments")).toEqual([]);

    await stack.startWorker();
    await stack.startWorker();
    const runs = await eventually(
      "every run to end",
      async () => {
        const all = await Promise.all(orderIds.map((id) => stack.client.getRun(id)));
        return all.every((run) => run.status === "completed" || run.status === "compensated")
          ? all
          : undefined;
      },
      30_000,
      250,
    );
    expect(runs.filter((run: Run) => run.status === "completed").length).toBeGreaterThan(0);
    expect(inconsistencies(runs, stack.effects())).toEqual([]);
    const payments = (await stack.client.services()).find((s) => s.name === "payments");
    expect(payments).toMatchObject({ queueDepth: 0, inFlight: 0 });
  });
});
