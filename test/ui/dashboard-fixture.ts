import { Baton, StepFailedError, queue, service, silentLogger, workflow } from "../../src/index.js";
import type { WebhookOptions } from "../../src/webhooks/index.js";
import { worker, type Worker } from "../../src/worker/index.js";
import {
  createOrderServices,
  createPlaceOrder,
  type OrderServices,
} from "../fixtures/order-saga.js";
import { tempDbUrl } from "../support/temp-db.js";
import { ensureDashboardBuilt } from "./dashboard-build.js";

/**
 * A real Baton behind a real server for the browser: the order saga with in-process services
 * whose faults the test switches, a workflow that waits for a signal, one that fans out, sleeps
 * and starts a child, and a queue-served service with a worker polling over HTTP.
 */

export const TOKEN = "dashboard-test-token";

export function createWorkflows(order: OrderServices) {
  const placeOrder = createPlaceOrder(order);

  const approval = workflow("approval", async (ctx, input: { orderId: string }) => {
    await ctx.step("submit", () => ({ submitted: input.orderId }));
    const decision = await ctx.waitForSignal<{ approved: boolean }>("decision");
    return ctx.step("record", () => ({ orderId: input.orderId, approved: decision.approved }));
  });

  const labels = service("labels", queue({ leaseMs: 5_000 }));

  /** Parallel steps (branches on the path), a timer, a queued command and a child run. */
  const fulfilment = workflow("fulfilment", async (ctx, input: { orderId: string }) => {
    const picked = await Promise.all(
      ["shelf-a", "shelf-b", "shelf-c"].map((shelf, i) =>
        ctx.step(`pick-${shelf}`, async () => {
          // Picking takes a while, so the three overlap in time.
          await new Promise((resolve) => setTimeout(resolve, 15 + 5 * i));
          return { shelf, orderId: input.orderId };
        }),
      ),
    );
    await ctx.sleep(30);
    const label = await ctx.call(labels, "print", { orderId: input.orderId });
    const order = await ctx.child(placeOrder, {
      orderId: `${input.orderId}-order`,
      sku: "SKU-0042",
      qty: picked.length,
      amount: 1200,
    });
    return { picked: picked.length, label, order };
  });

  /** Freeing the table always fails for good: the rollback stops there and waits for an operator. */
  const reservation = workflow(
    "reservation",
    async (ctx, input: { orderId: string }) => {
      await ctx.step("hold-table", () => ({ held: input.orderId }), {
        compensate: () =>
          ctx.step("free-table", () => {
            throw new StepFailedError(`the booking system refused to free ${input.orderId}`);
          }),
      });
      return ctx.step("confirm", () => {
        throw new StepFailedError("no chef tonight", { code: "NO_CHEF" });
      });
    },
    { onCompensationFailure: "event" },
  );

  /** Continues as new twice: its run page shows generation 3. */
  const ticker = workflow("ticker", async (ctx, input: { generation: number }) => {
    await ctx.step("tick", () => input.generation);
    if (input.generation < 3) return ctx.continueAsNew({ generation: input.generation + 1 });
    return { generations: input.generation };
  });

  return {
    workflows: [placeOrder, approval, fulfilment, reservation, ticker],
    services: [...order.services, labels],
  };
}

export interface DashboardServer {
  url: string;
  baton: Baton;
  order: OrderServices;
  close(): Promise<void>;
}

/** Builds the dashboard if needed, opens Baton on a temp SQLite file and serves it on a free port. */
export async function startDashboardServer(
  options: { token?: string; webhooks?: WebhookOptions } = {},
): Promise<DashboardServer> {
  ensureDashboardBuilt();
  const db = tempDbUrl("dashboard");
  const order = createOrderServices();
  const { workflows, services } = createWorkflows(order);
  const baton = await Baton.open({
    db: db.url,
    workflows,
    services,
    logger: silentLogger,
    ...(options.webhooks !== undefined ? { webhooks: options.webhooks } : {}),
  });
  const serving = await baton.serve({
    port: 0,
    logger: false,
    runRefreshMs: 200,
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
  const labelWorker: Worker = worker({
    url: serving.url,
    ...(options.token !== undefined ? { token: options.token } : {}),
    service: "labels",
    pollWaitSeconds: 1,
    logger: silentLogger,
    handlers: {
      print: (input: { orderId: string }) => ({ labelId: `L-${input.orderId}` }),
    },
  });
  await labelWorker.start();
  return {
    url: serving.url,
    baton,
    order,
    async close() {
      await labelWorker.stop({ abortAfterMs: 1_000 });
      await baton.close();
      db.cleanup();
    },
  };
}
