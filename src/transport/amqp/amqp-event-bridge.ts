import { ValidationError, type BatonEvent, type Logger } from "../../common/index.js";
import { AmqpConnection } from "./amqp-connection.js";

export interface AmqpEventsOptions {
  /** `amqp://` or `amqps://` URL of the broker. */
  url: string;
  /** The topic exchange events are published to (asserted durable); default `baton.events`. */
  exchange?: string;
  /** Events held while the broker is slow or down; beyond that new ones are dropped (default 10000). */
  maxBuffered?: number;
}

export interface EventBridgeStats {
  published: number;
  dropped: number;
  buffered: number;
  connected: boolean;
}

export const DEFAULT_EVENTS_EXCHANGE = "baton.events";
const DEFAULT_MAX_BUFFERED = 10_000;
/** Events published per batch, then confirmed together. */
const BATCH = 500;
/** How long close() lets buffered events reach the broker before it gives up on them. */
const CLOSE_FLUSH_MS = 2_000;

/** The routing key of an event: its topic (user events) or type (Baton's own). */
export function routingKeyOf(event: BatonEvent): string {
  const topic = (event as { topic?: unknown }).topic;
  return typeof topic === "string" && topic.length > 0 ? topic : event.type;
}

/**
 * Publishes every event the engine publishes to a durable topic exchange, persistent and
 * confirmed, routing key = topic. Never slows a run: `publish` only appends to a bounded buffer
 * that a loop drains while the broker is there; when the buffer is full new events are dropped
 * and counted. At most once across a crash of this process (the buffer is in memory); at least
 * once otherwise (a batch whose confirm did not come is published again after a reconnect).
 */
export class AmqpEventBridge {
  private readonly exchange: string;
  private readonly maxBuffered: number;
  private readonly connection: AmqpConnection;
  private buffer: BatonEvent[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private draining: Promise<void> | undefined;
  private published = 0;
  private dropped = 0;

  constructor(options: AmqpEventsOptions, logger: Logger) {
    if (typeof options.url !== "string" || !/^amqps?:\/\/\S+$/.test(options.url))
      throw new ValidationError(
        "INVALID_ARGUMENT",
        "events.amqp.url must be an amqp:// or amqps:// URL",
      );
    if (
      options.exchange !== undefined &&
      (typeof options.exchange !== "string" ||
        !/^[A-Za-z0-9_.:-]{1,255}$/.test(options.exchange) ||
        options.exchange.startsWith("amq."))
    )
      throw new ValidationError(
        "INVALID_ARGUMENT",
        "events.amqp.exchange must be 1–255 letters, digits, '-', '_', '.', ':', not starting with amq.",
      );
    if (
      options.maxBuffered !== undefined &&
      (!Number.isInteger(options.maxBuffered) || options.maxBuffered < 1)
    )
      throw new ValidationError(
        "INVALID_ARGUMENT",
        "events.amqp.maxBuffered must be a whole number ≥ 1",
      );
    this.exchange = options.exchange ?? DEFAULT_EVENTS_EXCHANGE;
    this.maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.connection = new AmqpConnection(
      options.url,
      `events → ${this.exchange}`,
      logger,
      async (channel) => {
        await channel.assertExchange(this.exchange, "topic", { durable: true });
      },
    );
  }

  start(): void {
    this.connection.start();
    this.draining ??= this.drain();
  }

  /** Takes one event (never blocks, never throws). */
  publish(event: BatonEvent): void {
    if (this.closed) return;
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffer.push(event);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  get stats(): EventBridgeStats {
    return {
      published: this.published,
      dropped: this.dropped,
      buffered: this.buffer.length,
      connected: this.connection.state.state === "connected",
    };
  }

  /** Lets buffered events go out for up to 2 s, then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    const deadline = Date.now() + CLOSE_FLUSH_MS;
    // Wall time: shutting down is about this process. A poll interval of a bounded wait.
    while (this.draining && this.buffer.length > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    this.closed = true;
    this.wake?.();
    await this.connection.close();
    await this.draining;
  }

  private async drain(): Promise<void> {
    while (!this.closed) {
      if (this.buffer.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const channel = await this.connection.channel();
      if (!channel) return;
      const batch = this.buffer.slice(0, BATCH);
      try {
        for (const event of batch) {
          channel.publish(this.exchange, routingKeyOf(event), Buffer.from(JSON.stringify(event)), {
            persistent: true,
            contentType: "application/json",
            type: event.type,
            // A user event's own id is what consumers dedupe by; Baton's events have only a position.
            ...(event.eventId !== undefined || event.id !== undefined
              ? { messageId: event.eventId ?? String(event.id) }
              : {}),
            timestamp: Math.floor(Date.parse(event.at) / 1000) || undefined,
            headers: { "baton-run-id": event.runId, "baton-workflow": event.workflow },
          });
        }
        await channel.waitForConfirms();
        this.buffer.splice(0, batch.length);
        this.published += batch.length;
      } catch {
        // Not confirmed: the batch stays first in the buffer and goes again once reconnected.
        this.connection.broken(channel);
        await new Promise((resolve) => setTimeout(resolve, 100)); // the reconnect's first back-off
      }
    }
  }
}
