import pg from "pg";
import { toBatonError, type BatonError } from "../../common/index.js";
import { storeFailed } from "./postgres-errors.js";

/** Channels the store notifies on, at commit. */
export const Channel = {
  /** Payload: a service whose tasks became deliverable (enqueued or requeued). */
  Tasks: "baton_tasks",
  /**
   * Payload: a run with news — a signal, a worker's reply, a child's end — or, followed by
   * ENDED_SUFFIX, a run that reached a terminal status (run ids never contain a space).
   */
  Runs: "baton_runs",
} as const;

export const ENDED_SUFFIX = " ended";

/**
 * Called with each notification's payload, or with `null` after the connection was lost and
 * re-established: notifications sent in between are gone, so look at whatever may have changed.
 */
export type NotificationHandler = (payload: string | null) => void;

export interface PostgresNotifierOptions {
  connectionString: string;
  /** Wait before the first reconnection attempt; doubles on each failure, up to 5 s. Default 100. */
  reconnectDelayMs?: number;
  /** A lost connection, a failed reconnection, or a handler that threw. */
  onError?: (error: BatonError) => void;
}

const MAX_RECONNECT_DELAY_MS = 5_000;

/**
 * LISTEN/NOTIFY on a dedicated connection (a pooled one would lose its LISTENs when returned).
 * The connection is opened by the first `listen`, re-opened after it drops, and LISTENs again on
 * every channel that still has handlers.
 *
 * @example
 * const notifier = new PostgresNotifier({ connectionString });
 * const stop = await notifier.listen(Channel.Tasks, (service) => wakePollers(service));
 * await notifier.notify(Channel.Tasks, "payments");
 */
export class PostgresNotifier {
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelayMs: number;
  private closed = false;

  constructor(private readonly options: PostgresNotifierOptions) {
    this.reconnectDelayMs = options.reconnectDelayMs ?? 100;
  }

  /** Resolves once the server has the LISTEN; the function it gives removes this handler. */
  async listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    if (this.closed) throw storeFailed("listen", new Error("the notifier is closed"));
    let handlers = this.handlers.get(channel);
    const isNew = handlers === undefined;
    if (!handlers) {
      handlers = new Set();
      this.handlers.set(channel, handlers);
    }
    handlers.add(handler);
    if (isNew) {
      try {
        const client = await this.connection();
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (e) {
        handlers.delete(handler);
        if (handlers.size === 0) this.handlers.delete(channel);
        throw storeFailed("listen", e);
      }
    }
    return () => this.unlisten(channel, handler);
  }

  /** Sends a notification now (not inside any transaction of the store). */
  async notify(channel: string, payload: string): Promise<void> {
    try {
      const client = await this.connection();
      await client.query("SELECT pg_notify($1, $2)", [channel, payload]);
    } catch (e) {
      throw storeFailed("notify", e);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.handlers.clear();
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async unlisten(channel: string, handler: NotificationHandler): Promise<void> {
    const handlers = this.handlers.get(channel);
    if (!handlers?.delete(handler) || handlers.size > 0) return;
    this.handlers.delete(channel);
    if (this.client) await this.client.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`);
  }

  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      fallback_application_name: "baton-notifier",
    });
    client.on("notification", (message) => this.dispatch(message.channel, message.payload ?? ""));
    client.on("error", (e) => this.lost(client, e));
    client.on("end", () => this.lost(client, new Error("the connection ended")));
    await client.connect();
    if (this.closed) {
      await client.end();
      throw new Error("the notifier is closed");
    }
    this.client = client;
    return client;
  }

  private dispatch(channel: string, payload: string | null): void {
    for (const handler of this.handlers.get(channel) ?? []) {
      try {
        handler(payload);
      } catch (e) {
        this.options.onError?.(toBatonError(e));
      }
    }
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.options.onError?.(storeFailed("keep listening", error));
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnect();
    }, this.reconnectDelayMs);
    // A notifier nobody closed must not keep the process alive on its own.
    this.reconnectTimer.unref();
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    try {
      const client = await this.connection();
      for (const channel of this.handlers.keys()) {
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      this.reconnectDelayMs = this.options.reconnectDelayMs ?? 100;
      // Whatever was notified while no connection listened is lost: say so.
      for (const channel of this.handlers.keys()) this.dispatch(channel, null);
    } catch (e) {
      this.options.onError?.(storeFailed("listen again", e));
      this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, MAX_RECONNECT_DELAY_MS);
      this.scheduleReconnect();
    }
  }
}
