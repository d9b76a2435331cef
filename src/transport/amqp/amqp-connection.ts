import { connect, type ChannelModel, type ConfirmChannel } from "amqplib";
import type { Logger } from "../../common/index.js";

/** Reconnects start at this delay and double up to the maximum, each with ±50% jitter. */
const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5_000;
/** A connection attempt that hangs (a black-holed broker) is given up after this long. */
const CONNECT_TIMEOUT_MS = 5_000;

/** The delay before reconnect attempt `n` (0 first): exponential, capped, jittered. */
export function reconnectDelay(n: number, random: () => number = Math.random): number {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(n, 16));
  return Math.round(base * (0.5 + random()));
}

export type BrokerState =
  | { state: "connecting"; since: number; lastError?: string }
  | { state: "connected"; since: number }
  | { state: "closed" };

/**
 * One connection to a broker that reconnects by itself, with backoff and jitter, until closed.
 * `setup` runs on every new connection with a confirm channel (declares queues, starts consumers);
 * `channel()` waits until there is one. A broker that is down never throws here: callers wait.
 */
export class AmqpConnection {
  private model: ChannelModel | undefined;
  private current: ConfirmChannel | undefined;
  private waiting: Array<(channel: ConfirmChannel | undefined) => void> = [];
  private status: BrokerState = { state: "connecting", since: Date.now() };
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly name: string,
    private readonly logger: Logger,
    private readonly setup: (channel: ConfirmChannel, model: ChannelModel) => Promise<void>,
  ) {}

  /** Starts connecting (idempotent). */
  start(): void {
    this.loop ??= this.connectLoop();
  }

  get state(): BrokerState {
    return this.status;
  }

  /** The channel once connected; undefined once closed. */
  channel(): Promise<ConfirmChannel | undefined> {
    if (this.current) return Promise.resolve(this.current);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** A channel that was handed out failed (its publish got "channel closed"): connect again. */
  broken(channel: ConfirmChannel): void {
    if (this.current !== channel) return;
    this.lost("the channel closed");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.status = { state: "closed" };
    clearTimeout(this.retryTimer);
    for (const resolve of this.waiting.splice(0)) resolve(undefined);
    const model = this.model;
    this.model = undefined;
    this.current = undefined;
    await model?.close().catch(() => undefined);
  }

  private async connectLoop(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await this.connectOnce();
        return;
      } catch (e) {
        const message = (e as Error).message || String(e);
        this.status = {
          state: "connecting",
          since: this.status.state === "connecting" ? this.status.since : Date.now(),
          lastError: message,
        };
        if (attempt === 0 || attempt % 20 === 0)
          this.logger.warn({ broker: this.name, err: message }, "RabbitMQ unreachable; retrying");
        await new Promise<void>((resolve) => {
          this.retryTimer = setTimeout(resolve, reconnectDelay(attempt));
        });
      }
    }
  }

  private async connectOnce(): Promise<void> {
    const model = await withTimeout(connect(this.url), CONNECT_TIMEOUT_MS, "connecting timed out");
    if (this.closed) {
      await model.close().catch(() => undefined);
      return;
    }
    // Errors come before the close event; the close event is where we reconnect.
    model.on("error", (e: unknown) =>
      this.logger.warn(
        { broker: this.name, err: (e as Error).message },
        "RabbitMQ connection error",
      ),
    );
    model.on("close", () => {
      if (this.model === model) this.lost("the connection closed");
    });
    try {
      const channel = await model.createConfirmChannel();
      channel.on("error", (e: unknown) =>
        this.logger.warn(
          { broker: this.name, err: (e as Error).message },
          "RabbitMQ channel error",
        ),
      );
      channel.on("close", () => {
        if (this.current === channel) this.lost("the channel closed");
      });
      await this.setup(channel, model);
      this.model = model;
      this.current = channel;
    } catch (e) {
      await model.close().catch(() => undefined);
      throw e;
    }
    this.status = { state: "connected", since: Date.now() };
    this.logger.info({ broker: this.name }, "RabbitMQ connected");
    for (const resolve of this.waiting.splice(0)) resolve(this.current);
  }

  private lost(why: string): void {
    if (this.closed) return;
    const model = this.model;
    this.model = undefined;
    this.current = undefined;
    this.status = { state: "connecting", since: Date.now(), lastError: why };
    this.logger.warn({ broker: this.name, reason: why }, "RabbitMQ connection lost; reconnecting");
    void model?.close().catch(() => undefined);
    this.loop = this.connectLoop();
  }
}

function withTimeout<T extends { close(): Promise<void> }>(
  promise: Promise<T>,
  ms: number,
  message: string,
): Promise<T> {
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(message));
    }, ms);
  });
  // A connection that arrives after the timeout is closed, not leaked.
  promise.then(
    (value) => {
      if (timedOut) void value.close().catch(() => undefined);
    },
    () => undefined,
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
