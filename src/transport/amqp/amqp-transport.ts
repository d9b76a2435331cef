import type { Channel, ConfirmChannel, ConsumeMessage } from "amqplib";
import { ValidationError, type Task } from "../../common/index.js";
import type { AmqpTransportSpec, QueueTransport, TaskPort } from "../transport.js";
import { AmqpConnection, reconnectDelay } from "./amqp-connection.js";
import { commandMessage, replyKey, replyQueueName, type CommandMessage } from "./amqp-envelope.js";
import { replyAction, verdictOnError } from "./amqp-replies.js";

const DEFAULT_MAX_IN_FLIGHT = 100;
/** How long one poll of the durable queue waits for a task (it is woken when one is queued). */
const POLL_WAIT_MS = 5_000;
/** After a store error while polling or recording a reply: try again after this long. */
const STORE_RETRY_MS = 1_000;
/** Replies handled at once (the broker holds the rest until these are acked). */
const REPLY_PREFETCH = 100;

/**
 * A service reached through RabbitMQ (docs/rabbitmq.md).
 *
 * @example
 * const payments = service("payments", amqp({ url: process.env.AMQP_URL!, queue: "payments" }));
 */
export function amqp(options: {
  url: string;
  queue: string;
  replyQueue?: string;
  leaseMs?: number;
  maxInFlight?: number;
}): AmqpTransportSpec {
  const { url, queue, replyQueue, leaseMs, maxInFlight } = options ?? {};
  if (typeof url !== "string" || !/^amqps?:\/\/[^\s]+$/.test(url)) {
    throw new ValidationError("INVALID_DEFINITION", "amqp url must be an amqp:// or amqps:// URL");
  }
  if (!isQueueName(queue)) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      "amqp queue must be a name of 1–255 characters, not starting with amq.",
    );
  }
  if (replyQueue !== undefined && !isQueueName(replyQueue)) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      "amqp replyQueue must be a name of 1–255 characters, not starting with amq.",
    );
  }
  if (leaseMs !== undefined && (!Number.isInteger(leaseMs) || leaseMs < 100)) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      "amqp leaseMs must be a whole number of ms, at least 100",
    );
  }
  if (
    maxInFlight !== undefined &&
    (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 10_000)
  ) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      "amqp maxInFlight must be a whole number from 1 to 10000",
    );
  }
  return {
    kind: "amqp",
    url,
    queue,
    ...(replyQueue !== undefined ? { replyQueue } : {}),
    ...(leaseMs !== undefined ? { leaseMs } : {}),
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
  };
}

/**
 * To the engine a queue service like any other: each command is a task in the durable queue,
 * written with the journal entry that sends it. This relay is its worker inside Baton: it takes
 * tasks from the queue, publishes each to RabbitMQ (persistent, with a publisher confirm), and
 * records the replies that come back on the node's durable reply queue. So a command outlives a
 * broker outage and an orchestrator restart in the queue, a rollback settles one in flight as a
 * leased task, and a command whose reply does not come within its lease is published again.
 */
export class AmqpTransport implements QueueTransport {
  readonly kind = "queue";
  readonly via = "amqp";
  readonly leaseMs: number;
  private readonly maxInFlight: number;
  private port: TaskPort | undefined;
  private connection: AmqpConnection | undefined;
  private readonly stop = new AbortController();
  private pumping: Promise<void> | undefined;
  /** Commands claimed and not yet confirmed by the broker. */
  private inFlight = 0;
  private slotFreed: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly service: string,
    private readonly spec: AmqpTransportSpec,
    defaultLeaseMs: number,
  ) {
    this.leaseMs = spec.leaseMs ?? defaultLeaseMs;
    this.maxInFlight = spec.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  attach(port: TaskPort): void {
    if (this.port || this.closed) return;
    this.port = port;
    const replyQueue = this.replyQueue(port);
    const connection = new AmqpConnection(
      this.spec.url,
      `${this.service} (${redact(this.spec.url)})`,
      port.logger,
      async (channel, model) => {
        await channel.assertQueue(this.spec.queue, { durable: true });
        await channel.assertQueue(replyQueue, { durable: true });
        const consumer = await model.createChannel();
        consumer.on("error", () => undefined); // reported by the connection; close reconnects
        consumer.on("close", () => connection.broken(channel));
        await consumer.prefetch(REPLY_PREFETCH);
        await consumer.consume(replyQueue, (message) => void this.onReply(consumer, message), {
          noAck: false,
        });
      },
    );
    this.connection = connection;
    connection.start();
    this.pumping = this.pump(port, connection);
  }

  private replyQueue(port: TaskPort): string {
    return this.spec.replyQueue ?? replyQueueName(port.nodeId);
  }

  describe(): string {
    const state = this.connection?.state;
    const where = `RabbitMQ queue ${this.spec.queue}`;
    if (!state || state.state === "closed") return `${where}: this node does not relay commands`;
    if (state.state === "connected")
      return `sent through ${where} (broker connected): waiting for the ${this.service} service's reply`;
    if (state.lastError === undefined)
      return `${where}: connecting to the broker; the command is published once connected`;
    return `${where}: the broker is unreachable since ${new Date(state.since).toISOString()} (${state.lastError}); the command waits and is published once it is back`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    this.slotFreed?.();
    await this.connection?.close();
    await this.pumping;
  }

  /** Takes tasks from the durable queue while the broker is connected, and publishes them. */
  private async pump(port: TaskPort, connection: AmqpConnection): Promise<void> {
    const workerId = `amqp-relay@${port.nodeId}`;
    while (!this.closed) {
      // Nothing is claimed while the broker is down: commands wait in the durable queue.
      if (!(await connection.channel())) return;
      if (this.inFlight >= this.maxInFlight) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      let tasks: Task[];
      try {
        tasks = await port.poll(this.service, {
          workerId,
          max: this.maxInFlight - this.inFlight,
          waitMs: POLL_WAIT_MS,
          signal: this.stop.signal,
        });
      } catch (e) {
        if (this.closed || (e as { code?: unknown }).code === "ENGINE_CLOSED") return;
        port.logger.warn(
          { service: this.service, err: e },
          "cannot take commands for RabbitMQ; retrying",
        );
        await sleep(STORE_RETRY_MS);
        continue;
      }
      for (const task of tasks) void this.publish(task, port, connection);
    }
  }

  /**
   * Publishes one delivery until the broker confirms it, across reconnects, while its lease
   * lasts (after that the queue hands it out again, to this relay or another node's).
   */
  private async publish(task: Task, port: TaskPort, connection: AmqpConnection): Promise<void> {
    this.inFlight++;
    const message = commandMessage(task, this.replyQueue(port), Date.now());
    const leaseEnds = Date.parse(task.leaseExpiresAt);
    try {
      for (let attempt = 0; !this.closed && Date.now() < leaseEnds; attempt++) {
        const channel = await connection.channel();
        if (!channel) return;
        try {
          await publishConfirmed(channel, this.spec.queue, message);
          return;
        } catch (e) {
          port.logger.debug(
            { service: this.service, key: task.idempotencyKey, err: (e as Error).message },
            "publish not confirmed; publishing again",
          );
          // The channel is gone or the broker refused it: wait for the reconnect, or a moment.
          await sleep(reconnectDelay(attempt));
        }
      }
    } finally {
      this.inFlight--;
      const wake = this.slotFreed;
      this.slotFreed = undefined;
      wake?.();
    }
  }

  private async onReply(channel: Channel, message: ConsumeMessage | null): Promise<void> {
    if (!message) return; // the consumer was cancelled (queue deleted): the close reconnects
    const verdict = await this.recordReply(message);
    if (verdict === "leave") return; // closing: the broker delivers it again to the next start
    try {
      if (verdict === "ack") channel.ack(message);
      else channel.nack(message, false, true);
    } catch {
      // The channel closed meanwhile: unacknowledged, the reply is delivered again.
    }
  }

  /**
   * Records one reply durably and says what to tell the broker: "ack" once recorded (or when
   * there is nothing left to record: a duplicate, a late or unknown reply), "retry" when the
   * store failed, "leave" when this node is closing.
   */
  private async recordReply(message: ConsumeMessage): Promise<"ack" | "retry" | "leave"> {
    const port = this.port!;
    const key = replyKey(message.properties.correlationId);
    if (key === undefined) {
      port.logger.warn(
        { service: this.service },
        "RabbitMQ reply without a correlation id; dropped",
      );
      return "ack";
    }
    try {
      // Recorded durably first, acknowledged after: a crash in between has the broker deliver
      // the reply again, and the duplicate finds the command settled and is ignored.
      const action = replyAction(key, await port.findTask(key), message.content);
      if (action.kind === "complete") await port.complete(action.deliveryId, action.output);
      else if (action.kind === "fail") {
        if (action.invalid !== undefined)
          port.logger.warn(
            { service: this.service, key, reason: action.invalid },
            "invalid RabbitMQ reply",
          );
        await port.fail(action.deliveryId, action.error, action.retryable);
      }
      return "ack";
    } catch (e) {
      const verdict = verdictOnError((e as { code?: unknown }).code, this.closed);
      if (verdict !== "retry") return verdict;
      port.logger.warn(
        { service: this.service, key, err: e },
        "RabbitMQ reply not recorded; retrying",
      );
      await sleep(STORE_RETRY_MS);
      return "retry";
    }
  }
}

function publishConfirmed(
  channel: ConfirmChannel,
  queue: string,
  message: CommandMessage,
): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      channel.sendToQueue(queue, message.content, message.options, (err: unknown) =>
        err
          ? reject(err instanceof Error ? err : new Error("the broker refused the message"))
          : resolve(),
      );
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/** A poll interval's or back-off's wait (never a wait for a condition that could notify). */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isQueueName(name: unknown): name is string {
  return (
    typeof name === "string" && name.length > 0 && name.length <= 255 && !name.startsWith("amq.")
  );
}

function redact(url: string): string {
  return url.replace(/^(amqps?:\/\/[^:/@]*:)[^@/]*@/, "$1***@");
}
