/**
 * payments behind RabbitMQ (docs/rabbitmq.md): the same service as payments.ts, written with
 * plain amqplib and no Baton code at all — any language with an AMQP client could do the same.
 * Baton publishes each command to the queue; this process answers on the message's `reply_to`
 * with the same `correlation_id`, then acknowledges the command.
 *
 *   AMQP_URL=amqp://guest:guest@127.0.0.1:5672 npx tsx examples/order-demo/payments-amqp.ts
 *
 * PAYMENTS_QUEUE (default "payments"): the command queue.
 * PAYMENTS_FAIL_RATE (default 0.1): share of charges failing with a transient error, retried.
 * LATENCY_MS, EFFECTS_FILE, RANDOM_SEED: see service-kit.ts. The ledger (EFFECTS_FILE) dedupes by
 * correlation id: a command published again (after a broker outage, say) charges nobody twice.
 */
import { connect, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import {
  BusinessError,
  Ledger,
  chance,
  envNumber,
  joinParent,
  onStopSignal,
  simulateLatency,
} from "./service-kit.js";

const URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const QUEUE = process.env.PAYMENTS_QUEUE ?? "payments";
const FAIL_RATE = envNumber("PAYMENTS_FAIL_RATE", 0.1);
const ledger = new Ledger("payments");

interface Payment {
  paymentId: string;
  amount: number;
  orderId: string;
}

/** Thrown before anything is charged: Baton publishes the command again (same correlation id). */
class Transient extends Error {}

async function charge(
  input: { orderId: string; amount: number },
  key: string,
  attempt: number,
): Promise<Payment> {
  await simulateLatency(undefined, `${key}:${attempt}`);
  if (chance(FAIL_RATE, `fail:${key}:${attempt}`)) throw new Transient("card network timed out");
  return { paymentId: `pay-${key}`, amount: input.amount, orderId: input.orderId };
}

/** Refunds the charge of a payment or an order once, if there is one standing. */
function refund(input: { paymentId?: string; orderId?: string } | null): unknown {
  if (!input || (input.paymentId === undefined && input.orderId === undefined))
    throw new BusinessError("REFUND_INVALID", "a refund names an order or a payment");
  const effects = ledger.effects();
  const payment = effects
    .filter((e) => e.command === "charge" && e.outcome.ok)
    .map((e) => (e.outcome as { output: Payment }).output)
    .find((p) => (input.paymentId ? p.paymentId === input.paymentId : p.orderId === input.orderId));
  const done = effects.some(
    (e) =>
      e.command === "refund" &&
      e.outcome.ok &&
      (e.outcome.output as { refunded?: string }).refunded === payment?.paymentId,
  );
  if (!payment || done) return { orderId: input.orderId ?? null, refunded: null, amount: 0 };
  return { orderId: payment.orderId, refunded: payment.paymentId, amount: payment.amount };
}

/** The reply body of docs/rabbitmq.md for one command; the ledger makes it once per key. */
async function handle(message: ConsumeMessage): Promise<unknown> {
  const command = String(message.properties.type ?? message.properties.headers?.["baton-command"]);
  const key = String(message.properties.correlationId);
  const attempt = Number(message.properties.headers?.["baton-attempt"] ?? 1);
  const input = JSON.parse(message.content.toString()) as never;
  try {
    const outcome = await ledger.once(key, command, { runId: key.split(":")[0] ?? key }, () => {
      if (command === "charge") return charge(input, key, attempt);
      if (command === "refund") return refund(input);
      throw new BusinessError("COMMAND_NOT_FOUND", `payments has no command ${command}`, 404);
    });
    if (outcome.ok) return { output: outcome.output };
    return { error: { message: outcome.message, code: outcome.code }, retryable: false };
  } catch (e) {
    // Not recorded in the ledger: nothing took effect, the next delivery tries again.
    return { error: { message: (e as Error).message, code: "PAYMENTS_BUSY" }, retryable: true };
  }
}

/** Answers, waits for the broker's confirm of the reply, then acknowledges the command. */
async function serve(channel: ConfirmChannel, message: ConsumeMessage): Promise<void> {
  const reply = await handle(message);
  const { replyTo, correlationId } = message.properties as {
    replyTo?: string;
    correlationId?: string;
  };
  if (replyTo) {
    channel.sendToQueue(replyTo, Buffer.from(JSON.stringify(reply)), {
      correlationId,
      persistent: true,
      contentType: "application/json",
    });
    await channel.waitForConfirms();
  }
  channel.ack(message);
}

let stopping = false;
let current: { close(): Promise<void> } | undefined;

/** Connects, and connects again whenever the broker goes away (its unacked commands come back). */
async function run(): Promise<void> {
  for (let attempt = 0; !stopping; attempt++) {
    try {
      const connection = await connect(URL);
      connection.on("error", () => undefined); // the close that follows is what matters
      current = connection;
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(QUEUE, { durable: true });
      await channel.prefetch(16);
      await channel.consume(QUEUE, (message) => {
        if (message)
          serve(channel, message).catch(() => {
            /* the channel closed: the broker delivers the command again */
          });
      });
      attempt = 0;
      if (!announced) announce();
      await new Promise((resolve) => connection.once("close", resolve));
    } catch {
      // A broker that is down or restarting: back off (capped, jittered) and try again.
    }
    if (!stopping)
      await new Promise((r) =>
        setTimeout(r, Math.min(2_000, 100 * 2 ** attempt) * (0.5 + Math.random())),
      );
  }
}

let announced = false;
function announce(): void {
  announced = true;
  process.stdout.write(`payments consuming RabbitMQ queue ${QUEUE}\n`);
  joinParent("payments", {
    behaviour: `${Math.round(FAIL_RATE * 100)}% of charges fail transiently, retried; via RabbitMQ`,
  });
}

onStopSignal("payments", async () => {
  stopping = true;
  await current?.close().catch(() => undefined);
});
await run();
