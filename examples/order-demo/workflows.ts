/**
 * The order saga of the demo: reserve the stock, charge the card, ship. If shipping refuses
 * for good, Baton refunds the charge and then releases the stock — the compensations run in
 * reverse order — and the run ends `compensated`.
 *
 *   baton server --workflows examples/order-demo/workflows.ts
 *
 * The services are found through the environment, so `baton demo` (which starts them on free
 * ports) and a deployment load the same file:
 *   INVENTORY_URL      direct HTTP calls to inventory   (default http://127.0.0.1:7071)
 *   SHIPPING_URL       direct HTTP calls to shipping    (default http://127.0.0.1:7073)
 *   PAYMENTS_LEASE_MS  how long a payments worker may hold a command before it is
 *                      delivered to another one          (default 30000)
 *   PAYMENTS_AMQP_URL  reach payments through RabbitMQ (queue PAYMENTS_QUEUE, default
 *                      "payments") instead of Baton's durable queue
 */
import { amqp, http, queue, service, workflow } from "baton";
import { z } from "zod";

export const inventory = service(
  "inventory",
  http(process.env.INVENTORY_URL ?? "http://127.0.0.1:7071", { timeoutMs: 10_000 }),
);

/**
 * Served by workers (payments.ts) polling Baton's durable queue — or, with PAYMENTS_AMQP_URL set
 * (`baton demo --amqp`), through RabbitMQ by a plain amqplib worker (payments-amqp.ts).
 */
const paymentsLeaseMs = Number(process.env.PAYMENTS_LEASE_MS ?? 30_000);
export const payments = service(
  "payments",
  process.env.PAYMENTS_AMQP_URL
    ? amqp({
        url: process.env.PAYMENTS_AMQP_URL,
        queue: process.env.PAYMENTS_QUEUE ?? "payments",
        leaseMs: paymentsLeaseMs,
      })
    : queue({ leaseMs: paymentsLeaseMs }),
);

export const shipping = service(
  "shipping",
  http(process.env.SHIPPING_URL ?? "http://127.0.0.1:7073", { timeoutMs: 10_000 }),
);

export const Order = z.object({
  orderId: z.string().min(1),
  sku: z.string().min(1),
  qty: z.number().int().positive(),
  amount: z.number().positive(),
  address: z.string().min(1),
});
export type Order = z.infer<typeof Order>;

interface Reservation {
  reservationId: string;
  sku: string;
  qty: number;
}

interface Payment {
  paymentId: string;
  amount: number;
}

interface Shipment {
  trackingId: string;
  carrier: string;
}

export const placeOrder = workflow(
  "placeOrder",
  async (ctx, order: Order) => {
    const reservation = await ctx.call<Reservation>(
      inventory,
      "reserve",
      { orderId: order.orderId, sku: order.sku, qty: order.qty },
      { compensate: (r) => ctx.call(inventory, "release", r) },
    );
    const payment = await ctx.call<Payment>(
      payments,
      "charge",
      { orderId: order.orderId, amount: order.amount },
      { compensate: (p) => ctx.call(payments, "refund", p) },
    );
    const shipment = await ctx.call<Shipment>(shipping, "ship", {
      orderId: order.orderId,
      sku: order.sku,
      qty: order.qty,
      address: order.address,
    });
    return {
      orderId: order.orderId,
      reservationId: reservation.reservationId,
      paymentId: payment.paymentId,
      trackingId: shipment.trackingId,
      message: `Your order has been shipped with ${shipment.carrier}`,
    };
  },
  {
    input: Order,
    // Transient failures (a 503, a timed-out card network) are retried quickly a few times.
    retry: { maxAttempts: 6, initialIntervalMs: 200, maxIntervalMs: 2_000 },
  },
);
