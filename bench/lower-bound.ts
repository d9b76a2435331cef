import { BatonError } from "../src/index.js";
import type { Target } from "./target.js";
import { stepBodies, type Order, type Outcome } from "./workloads/order-saga.js";

/**
 * The lower bound (bench/README.md): the same step functions awaited in a plain loop, in
 * process, with no durability. An engine can only add to this.
 */
export function lowerBoundTarget(): Target {
  const counter = { executed: 0 };
  const steps = stepBodies(counter);

  async function runOrder(order: Order): Promise<Outcome> {
    await steps.reserveInventory(order);
    await steps.chargePayment(order);
    try {
      await steps.shipOrder(order);
      return "completed";
    } catch (e) {
      if (!(e instanceof BatonError && e.code === "NO_CARRIER")) throw e;
      await steps.refundPayment(order);
      await steps.releaseInventory(order);
      return "compensated";
    }
  }

  return {
    runOrder,
    stepsExecuted: () => counter.executed,
    finish: () => Promise.resolve({ problems: [], facts: {} }),
  };
}
