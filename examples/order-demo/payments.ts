/**
 * payments: an event-driven service (docs/workers.md, "Workers"). Its commands wait in Baton's durable queue;
 * this worker takes them over plain HTTP, so payments may be down for a while without losing
 * an order. Run as many of these processes as you like.
 *
 *   BATON_URL=http://127.0.0.1:7070 npx tsx examples/order-demo/payments.ts
 *
 * PAYMENTS_FAIL_RATE (default 0.1): share of charges failing with a transient error, retried.
 * LATENCY_MS (default 20-150), EFFECTS_FILE: see service-kit.ts.
 */
import { StepFailedError, worker, type TaskContext } from "baton/worker";
import pino from "pino";
import {
  Ledger,
  chance,
  envNumber,
  joinParent,
  onStopSignal,
  simulateLatency,
  type Outcome,
} from "./service-kit.js";

interface ChargeInput {
  orderId: string;
  amount: number;
}

interface Payment {
  paymentId: string;
  amount: number;
}

const FAIL_RATE = envNumber("PAYMENTS_FAIL_RATE", 0.1);
const ledger = new Ledger("payments");

/** The same key always gets the same answer: a redelivered task charges nobody twice. */
async function once(task: TaskContext, effect: () => Promise<unknown>): Promise<unknown> {
  const outcome: Outcome = await ledger.once(task.idempotencyKey, task.command, task, effect);
  if (outcome.ok) return outcome.output;
  throw new StepFailedError(outcome.message, { code: outcome.code });
}

const payments = worker({
  service: "payments",
  concurrency: 8,
  logger: pino({ name: "payments", level: process.env.LOG_LEVEL ?? "info" }),
  handlers: {
    charge: (input: ChargeInput, task) =>
      once(task, async () => {
        await simulateLatency(task.signal);
        // Thrown before anything is charged; Baton retries the command with the same key.
        if (chance(FAIL_RATE)) throw new Error("card network timed out");
        const payment: Payment = { paymentId: `pay-${task.idempotencyKey}`, amount: input.amount };
        return payment;
      }),
    refund: (payment: Payment, task) =>
      once(task, async () => {
        await simulateLatency(task.signal);
        return { refunded: payment.paymentId, amount: payment.amount };
      }),
  },
});

await payments.start();
// Signals are handled before readiness is announced: a supervisor may send one right after.
onStopSignal("payments", () => payments.stop({ abortAfterMs: 3_000 }));
joinParent("payments", {
  behaviour: `${Math.round(FAIL_RATE * 100)}% of charges fail transiently, retried`,
});
