/**
 * payments: an event-driven service (docs/workers.md, "Workers"). Its commands wait in Baton's durable queue;
 * this worker takes them over plain HTTP, so payments may be down for a while without losing
 * an order. Run as many of these processes as you like.
 *
 *   BATON_URL=http://127.0.0.1:7070 npx tsx examples/order-demo/payments.ts
 *
 * PAYMENTS_FAIL_RATE (default 0.1): share of charges failing with a transient error, retried.
 * LATENCY_MS (default 20-150), EFFECTS_FILE, RANDOM_SEED: see service-kit.ts.
 * Knobs for tests and experiments (all off by default):
 *   PAYMENTS_CONCURRENCY        commands handled at once (default 8)
 *   PAYMENTS_REPLY_LATENCY_MS   `min-max` ms between charging the card and answering Baton: a
 *                               worker killed then has charged without telling anyone
 *   PAYMENTS_REFUND_FAIL=1      every refund is refused for good (the card processor says no);
 *                               nothing is recorded, so a later refund of the order may succeed
 *   PAYMENTS_CRASH_ON_ORDER=ID  the worker kills itself (SIGKILL) on receiving that order's charge
 *   DELIVERIES_FILE             one JSON line per task received, before it is handled
 */
import { appendFileSync } from "node:fs";
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
  orderId: string;
}

/**
 * What to refund: the order's charge, if there is one. A payment as the charge answered it, or
 * just `{ orderId }` when the charge's outcome is unknown (its worker died before answering).
 */
interface RefundInput {
  orderId?: string;
  paymentId?: string;
}

/** What a refund did: `refunded` is null when the order had no charge standing. */
export interface Refund {
  orderId: string | null;
  refunded: string | null;
  amount: number;
}

/** One task as this worker received it, for DELIVERIES_FILE. */
export interface DeliveryRecord {
  command: string;
  key: string;
  runId: string;
  attempt: number;
  taskId: string;
  orderId?: string;
  input: unknown;
  pid: number;
  at: string;
}

const FAIL_RATE = envNumber("PAYMENTS_FAIL_RATE", 0.1);
const REFUND_FAILS = process.env.PAYMENTS_REFUND_FAIL === "1";
const CRASH_ON_ORDER = process.env.PAYMENTS_CRASH_ON_ORDER || undefined;
const DELIVERIES_FILE = process.env.DELIVERIES_FILE || undefined;
const ledger = new Ledger("payments");
/** Payments with a refund under way in this process: two refunds of one order never both pay. */
const refunding = new Set<string>();

/** The same key always gets the same answer: a redelivered task charges nobody twice. */
async function once(task: TaskContext, effect: () => Promise<unknown>): Promise<unknown> {
  const outcome: Outcome = await ledger.once(task.idempotencyKey, task.command, task, effect);
  if (outcome.ok) return outcome.output;
  throw new StepFailedError(outcome.message, { code: outcome.code });
}

function received(task: TaskContext, input: unknown): void {
  if (!DELIVERIES_FILE) return;
  const orderId = (input as { orderId?: unknown } | null)?.orderId;
  const record: DeliveryRecord = {
    command: task.command,
    key: task.idempotencyKey,
    runId: task.runId,
    attempt: task.attempt,
    taskId: task.taskId,
    ...(typeof orderId === "string" ? { orderId } : {}),
    input: input ?? null,
    pid: process.pid,
    at: new Date().toISOString(),
  };
  appendFileSync(DELIVERIES_FILE, `${JSON.stringify(record)}\n`);
}

/** The charge standing for this payment or order, and whether a refund already undid it. */
function findCharge(input: RefundInput): { payment?: Payment; refunded: boolean } {
  const effects = ledger.effects();
  const payment = effects
    .filter((e) => e.command === "charge" && e.outcome.ok)
    .map((e) => (e.outcome as { output: Payment }).output)
    .find((p) =>
      input.paymentId !== undefined ? p.paymentId === input.paymentId : p.orderId === input.orderId,
    );
  if (!payment) return { refunded: false };
  const refunded = effects.some(
    (e) =>
      e.command === "refund" &&
      e.outcome.ok &&
      (e.outcome.output as Refund).refunded === payment.paymentId,
  );
  return { payment, refunded };
}

const payments = worker({
  service: "payments",
  concurrency: envNumber("PAYMENTS_CONCURRENCY", 8),
  logger: pino({ name: "payments", level: process.env.LOG_LEVEL ?? "info" }),
  handlers: {
    charge: async (input: ChargeInput, task) => {
      received(task, input);
      // A crash, not an error: nothing is reported, the lease runs out, the task comes back.
      if (CRASH_ON_ORDER !== undefined && input.orderId === CRASH_ON_ORDER) {
        process.kill(process.pid, "SIGKILL");
      }
      const output = await once(task, async () => {
        await simulateLatency(task.signal, `${task.idempotencyKey}:${task.attempt}`);
        // Thrown before anything is charged; Baton retries the command with the same key.
        if (chance(FAIL_RATE, `fail:${task.idempotencyKey}:${task.attempt}`)) {
          throw new Error("card network timed out");
        }
        const payment: Payment = {
          paymentId: `pay-${task.idempotencyKey}`,
          amount: input.amount,
          orderId: input.orderId,
        };
        return payment;
      });
      // The card is charged; a worker that dies now leaves Baton not knowing it.
      await simulateLatency(
        task.signal,
        `${task.idempotencyKey}:${task.attempt}`,
        "PAYMENTS_REPLY_LATENCY_MS",
      );
      return output;
    },
    // Refunds the order's charge if there is one, once: idempotent by key and by order, so an
    // unknown outcome can be undone blindly (`compensateUnknown`).
    refund: async (input: RefundInput | null, task) => {
      received(task, input);
      if (REFUND_FAILS) {
        throw new StepFailedError("the card processor refuses refunds today", {
          code: "REFUND_REFUSED",
        });
      }
      if (!input || (input.orderId === undefined && input.paymentId === undefined)) {
        throw new StepFailedError("a refund names an order or a payment", {
          code: "REFUND_INVALID",
        });
      }
      return once(task, async () => {
        await simulateLatency(task.signal, `${task.idempotencyKey}:${task.attempt}`);
        const { payment, refunded } = findCharge(input);
        const refund: Refund = {
          orderId: payment?.orderId ?? input.orderId ?? null,
          refunded: null,
          amount: 0,
        };
        if (!payment || refunded || refunding.has(payment.paymentId)) return refund;
        refunding.add(payment.paymentId);
        return { ...refund, refunded: payment.paymentId, amount: payment.amount };
      });
    },
  },
});

await payments.start();
// Signals are handled before readiness is announced: a supervisor may send one right after.
onStopSignal("payments", () => payments.stop({ abortAfterMs: 3_000 }));
joinParent("payments", {
  behaviour: `${Math.round(FAIL_RATE * 100)}% of charges fail transiently, retried`,
});
