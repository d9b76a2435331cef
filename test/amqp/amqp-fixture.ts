/** The order saga with payments through RabbitMQ, and broker look-ups, for rabbitmq.test.ts. */
import { existsSync, readFileSync } from "node:fs";
import { connect } from "amqplib";
import { StepFailedError, amqp, local, service, workflow } from "../../src/index.js";

export interface Order {
  orderId: string;
  amount: number;
}

export interface Effect {
  command: string;
  key: string;
  outcome: { ok: boolean; output?: { orderId?: string; refunded?: string | null } };
}

/** The saga of the demo: inventory and shipping in process, payments through RabbitMQ. */
export function orderSaga(url: string, queue: string, replyQueue: string) {
  const shipFails = new Set<string>();
  const inventory = service(
    "inventory",
    local({
      reserve: (order: Order) => ({ reservationId: `res-${order.orderId}` }),
      release: (r: { reservationId: string }) => ({ released: r.reservationId }),
    }),
  );
  const payments = service("payments", amqp({ url, queue, replyQueue, leaseMs: 15_000 }));
  const shipping = service(
    "shipping",
    local({
      ship: (order: Order) => {
        if (shipFails.has(order.orderId))
          throw new StepFailedError("no carrier", { code: "NO_CARRIER" });
        return { trackingId: `trk-${order.orderId}` };
      },
    }),
  );
  const placeOrder = workflow(
    "placeOrder",
    async (ctx, order: Order) => {
      const reservation = await ctx.call<{ reservationId: string }>(inventory, "reserve", order, {
        compensate: (r) => ctx.call(inventory, "release", r),
      });
      const payment = await ctx.call<{ paymentId: string }>(payments, "charge", order, {
        compensate: (p) => ctx.call(payments, "refund", p),
      });
      const shipment = await ctx.call(shipping, "ship", order);
      return { reservation, payment, shipment };
    },
    // The worker fails 5% of charges transiently: retried quickly, enough times never to run out.
    { retry: { maxAttempts: 12, initialIntervalMs: 10, maxIntervalMs: 200 } },
  );
  return { services: [inventory, payments, shipping], workflows: [placeOrder], shipFails };
}

export function readEffects(file: string): Effect[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as Effect);
}

export async function queueDepth(url: string, queue: string): Promise<number> {
  const connection = await connect(url);
  try {
    const channel = await connection.createChannel();
    // Declared as Baton declares it (durable): a queue the relay has not declared yet is empty.
    return (await channel.assertQueue(queue, { durable: true })).messageCount;
  } finally {
    await connection.close();
  }
}

export async function deleteQueues(url: string, queues: string[]): Promise<void> {
  const connection = await connect(url).catch(() => undefined);
  if (!connection) return;
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
