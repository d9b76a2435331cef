/**
 * W1 of bench/README.md: the order saga. Three durable steps; when shipping fails (non-retryable),
 * two compensations run as durable steps in reverse order. The step bodies are trivial
 * in-process work returning ~100-byte JSON objects, so what is measured is the orchestrator.
 *
 * The bodies live apart from the workflow so the lower bound awaits exactly the same functions.
 */
import { StepFailedError, workflow } from "../../src/index.js";

export interface Order {
  orderId: string;
  sku: string;
  qty: number;
  amount: number;
}

export const Variant = { Saga: "saga", SagaFail: "saga-fail" } as const;
export type Variant = (typeof Variant)[keyof typeof Variant];
export const VARIANTS: readonly Variant[] = [Variant.Saga, Variant.SagaFail];

/** How a run ended, as the driver saw it. */
export type Outcome = "completed" | "compensated" | `unexpected: ${string}`;

/** Durable step executions per run, by outcome (3 per completed, 5 per compensated). */
export const STEPS_PER_OUTCOME = { completed: 3, compensated: 5 } as const;

export function anOrder(orderId: string): Order {
  return { orderId, sku: "SKU-0042", qty: 3, amount: 4321 };
}

/**
 * The order ids of one batch. Every run gets a fresh id: `phase` keeps warm-up and measured
 * runs apart; the trailing number is what the failure rule reads.
 */
export function orderId(variant: Variant, phase: "w" | "m", index: number): string {
  return `${variant}-${phase}-${index}`;
}

/** The failure rule, from the orderId alone: contains "saga-fail" and the trailing number ≡ 7 (mod 10). */
export function shipFails(id: string): boolean {
  if (!id.includes("saga-fail")) return false;
  const trailing = Number(id.slice(id.lastIndexOf("-") + 1));
  return Number.isInteger(trailing) && trailing % 10 === 7;
}

export function expectedOutcome(id: string): Outcome {
  return shipFails(id) ? "compensated" : "completed";
}

/** Counts step executions in effect, so the bench can check that no step ran twice. */
export interface StepCounter {
  executed: number;
}

/**
 * The five step bodies. Each resolves to a ~100-byte object and does no I/O; they are async so
 * the lower bound can await them exactly as the engine does.
 */
export function stepBodies(counter: StepCounter) {
  return {
    async reserveInventory(order: Order) {
      counter.executed++;
      return { step: "reserveInventory", reservationId: `res-${order.orderId}`, sku: order.sku, qty: order.qty, ok: true };
    },
    async chargePayment(order: Order) {
      counter.executed++;
      return { step: "chargePayment", paymentId: `pay-${order.orderId}`, amount: order.amount, currency: "EUR", ok: true };
    },
    async shipOrder(order: Order) {
      counter.executed++;
      if (shipFails(order.orderId)) {
        throw new StepFailedError(`cannot ship order ${order.orderId}: no carrier for ${order.sku}`, { code: "NO_CARRIER" });
      }
      return { step: "shipOrder", trackingId: `trk-${order.orderId}`, carrier: "bench-post", ok: true };
    },
    async refundPayment(order: Order) {
      counter.executed++;
      return { step: "refundPayment", refundId: `ref-${order.orderId}`, amount: order.amount, ok: true };
    },
    async releaseInventory(order: Order) {
      counter.executed++;
      return { step: "releaseInventory", releaseId: `rel-${order.orderId}`, sku: order.sku, qty: order.qty, ok: true };
    },
  };
}

export type StepBodies = ReturnType<typeof stepBodies>;

/** The durable workflow `orderSaga`: compensations are durable steps, run by `compensate`. */
export function orderSagaWorkflow(steps: StepBodies) {
  return workflow("orderSaga", async (ctx, order: Order) => {
    const reservation = await ctx.step("reserveInventory", () => steps.reserveInventory(order), {
      compensate: () => ctx.step("releaseInventory", () => steps.releaseInventory(order)),
    });
    const payment = await ctx.step("chargePayment", () => steps.chargePayment(order), {
      compensate: () => ctx.step("refundPayment", () => steps.refundPayment(order)),
    });
    const shipment = await ctx.step("shipOrder", () => steps.shipOrder(order));
    return { orderId: order.orderId, reservationId: reservation.reservationId, paymentId: payment.paymentId, trackingId: shipment.trackingId };
  });
}
