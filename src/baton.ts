import { hostname } from "node:os";
import pino from "pino";
import {
  ConflictError,
  SystemClock,
  ValidationError,
  parseDuration,
  type BatonEvent,
  type Clock,
  type HistoryEvent,
  type Logger,
  type Run,
} from "./common/index.js";
import {
  Engine,
  checkSchedules,
  indexWorkflows,
  isScheduleDefinition,
  isServiceDefinition,
  isWorkflowDefinition,
  type AnyWorkflow,
  type ListQuery,
  type ScheduleDefinition,
  type Schedules,
  type PublishOptions,
  type PublishResult,
  type ServiceDefinition,
  type RunLimits,
  type StartOptions,
  type StartedRun,
  type WorkflowDefinition,
} from "./engine/index.js";
import { createServer, type BatonServer, type ServerOptions } from "./server/index.js";
import { openStore, type Store } from "./store/index.js";
import type { FaultInjector } from "./testing/index.js";
import {
  AmqpEventBridge,
  createTransport,
  type AmqpEventsOptions,
  type Transport,
} from "./transport/index.js";
import { Webhooks, type WebhookOptions } from "./webhooks/index.js";

export interface BatonOptions {
  /** `sqlite:PATH` (default `sqlite:./.baton/baton.db`), `sqlite::memory:`; `?synchronous=normal` trades power-loss safety for speed. */
  db?: string;
  /** Workflow definitions: an array, or a module's exports (every `workflow()` value among them). */
  workflows?: readonly AnyWorkflow[] | Record<string, unknown>;
  /** Service definitions: an array, or a module's exports. */
  services?: readonly ServiceDefinition[] | Record<string, unknown>;
  /**
   * Schedules (`schedule()` values): an array, or a module's exports. Upserted at start: the code's
   * cron, workflow and input win, a paused schedule stays paused (docs/schedules.md).
   */
  schedules?: readonly ScheduleDefinition[] | Record<string, unknown>;
  /** Where time comes from; tests pass a `ManualClock` from "baton/testing". */
  clock?: Clock;
  logger?: Logger;
  /** Waiting runs kept in memory (default 2000); the rest are replayed when they wake. */
  cacheSize?: number;
  /** Test mode: replay every run from its journal after every operation. */
  replayAfterEveryOp?: boolean;
  /** Test hook ("baton/testing"): called at named fault points, where crash tests kill the process. */
  faultInjector?: FaultInjector;
  /**
   * This node's name when several nodes share a PostgreSQL database (default: host name and
   * process id). Keep it stable across restarts and a restarted node takes its runs back at once
   * instead of after the lease.
   */
  nodeId?: string;
  /** How long a node keeps its runs without renewing its lease (default 10 s); PostgreSQL only. */
  leaseMs?: number;
  /**
   * Size limits of every run; a workflow's own `limits` win. Defaults: 10,000 journal entries per
   * generation (`maxHistory`), 1 MiB of JSON per output or input (`maxOutputBytes`), 1,000
   * unconsumed signals (`maxSignals`). See docs/operations.md.
   */
  limits?: Partial<RunLimits>;
  /**
   * How long runs are kept once they end, unless their workflow's own `retention` says: a duration
   * such as "90s", "15m", "12h" or "30d", or ms (default "30d"); `0` keeps runs forever. Every node
   * deletes expired runs in small batches (docs/operations.md, "Retention").
   */
  retention?: string | number;
  /**
   * Where every event is published besides Baton's own event log: `{ amqp: { url, exchange } }`
   * sends each to a RabbitMQ topic exchange, routing key = topic (docs/rabbitmq.md).
   */
  events?: { amqp?: AmqpEventsOptions };
  /**
   * How webhook subscriptions are delivered (docs/webhooks.md): poll interval, retry backoff,
   * request timeout. `false`: this node delivers none (subscriptions are still kept).
   */
  webhooks?: WebhookOptions | false;
}

/** Options of `Baton.serve`: where to listen, the API token, limits, logging. */
export type ServeOptions = Pick<
  ServerOptions,
  | "port"
  | "host"
  | "token"
  | "insecureNoAuth"
  | "allowedOrigins"
  | "bodyLimit"
  | "logger"
  | "runRefreshMs"
  | "sseHeartbeatMs"
>;

/** A listening API server: where it is, and how to stop it. */
export interface Serving {
  /** The base URL, e.g. `http://127.0.0.1:7070`. */
  readonly url: string;
  /** Stops the server (not the engine): streams end, requests in progress finish. */
  close(): Promise<void>;
}

/**
 * A Baton engine in this process.
 *
 * @example
 * const baton = await Baton.open({ db: "sqlite:./orders.db", workflows: [placeOrder], services: [payments] });
 * const run = await baton.start(placeOrder, { orderId: "o-1" }, { runId: "o-1" });
 * console.log(await baton.result(run.runId));
 * await baton.close();
 */
export class Baton {
  private server: BatonServer | undefined;
  private readonly stopWaking: () => void;

  private constructor(
    readonly engine: Engine,
    private readonly store: Store,
    private readonly transports: Map<string, Transport>,
    private readonly eventBridge: AmqpEventBridge | undefined,
    /** Webhook subscriptions (docs/webhooks.md), delivered by this node unless `webhooks: false`. */
    readonly webhooks: Webhooks,
    deliversWebhooks: boolean,
  ) {
    this.stopWaking = () => webhooks.stopNoticing();
    if (deliversWebhooks) webhooks.start((notice) => engine.on((event) => notice(event.type)));
  }

  static async open(options: BatonOptions = {}): Promise<Baton> {
    const workflows = collect(options.workflows, isWorkflowDefinition);
    const services = collect(options.services, isServiceDefinition);
    const schedules = collect(options.schedules, isScheduleDefinition);
    const transports = new Map<string, Transport>();
    for (const service of services) {
      if (transports.has(service.name)) {
        throw new ValidationError("DUPLICATE_SERVICE", `two services are named ${service.name}`);
      }
      transports.set(service.name, createTransport(service.name, service.transport));
    }
    const logger = options.logger ?? pino({ level: process.env.BATON_LOG_LEVEL ?? "warn" });
    const retentionMs =
      options.retention === undefined ? undefined : parseDuration(options.retention, "retention");
    const engineOptions = {
      ...(retentionMs !== undefined ? { retentionMs } : {}),
      clock: options.clock ?? new SystemClock(),
      logger,
      workflows,
      transports,
      schedules,
      ...(options.cacheSize !== undefined ? { cacheSize: options.cacheSize } : {}),
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
      ...(options.faultInjector ? { faultInjector: options.faultInjector } : {}),
      ...(options.replayAfterEveryOp !== undefined
        ? { replayAfterEveryOp: options.replayAfterEveryOp }
        : {}),
      ...(isSharedDatabase(options.db)
        ? {
            cluster: {
              nodeId: options.nodeId ?? `${hostname()}-${process.pid}`,
              ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
            },
          }
        : {}),
    };
    // Definitions are checked before the database is touched: a mistake leaves nothing behind.
    indexWorkflows(workflows);
    checkSchedules(schedules, workflows, Date.now());
    const bridge = options.events?.amqp
      ? new AmqpEventBridge(options.events.amqp, logger)
      : undefined;
    const store = openStore(options.db ?? "sqlite:./.baton/baton.db");
    try {
      await store.migrate();
      const engine = new Engine({ ...engineOptions, store });
      // Subscribed before recovery: the events of the runs it resumes go out too.
      if (bridge) {
        engine.on((event) => bridge.publish(event));
        bridge.start();
      }
      await engine.recover();
      const webhooks = new Webhooks(
        store,
        logger,
        options.webhooks === false ? {} : options.webhooks,
      );
      return new Baton(engine, store, transports, bridge, webhooks, options.webhooks !== false);
    } catch (e) {
      await bridge?.close();
      await store.close();
      throw e;
    }
  }

  start<I, O>(
    workflow: WorkflowDefinition<I, O> | string,
    input?: I,
    options?: StartOptions,
  ): Promise<StartedRun> {
    return this.engine.start(workflow as WorkflowDefinition, input, options);
  }

  get(runId: string): Promise<Run> {
    return this.engine.get(runId);
  }

  list(query?: ListQuery): Promise<{ runs: Run[]; nextCursor?: string }> {
    return this.engine.list(query);
  }

  history(runId: string): Promise<HistoryEvent[]> {
    return this.engine.history(runId);
  }

  signal(runId: string, name: string, payload?: unknown): Promise<void> {
    return this.engine.signal(runId, name, payload);
  }

  cancel(runId: string, reason?: string): Promise<void> {
    return this.engine.cancel(runId, reason);
  }

  /**
   * Resumes a `failed` run where it stopped; for a rollback waiting on a failed compensation
   * (policy `event` or `retry`), runs that compensation again.
   */
  retry(runId: string): Promise<void> {
    return this.engine.retry(runId);
  }

  /**
   * Skips the failed compensation of `seq` of a rollback that waits on it (an operator's action): the
   * rollback goes on, and the run ends `failed` with `PARTIALLY_COMPENSATED`.
   */
  skipCompensation(runId: string, seq: number): Promise<void> {
    return this.engine.skipCompensation(runId, seq);
  }

  /** The run's output once it completes; rejects with RUN_FAILED if it ends any other way. */
  result<O = unknown>(runId: string): Promise<O> {
    return this.engine.result(runId) as Promise<O>;
  }

  /** The run once terminal, or as it is after `timeoutMs`. */
  wait(runId: string, timeoutMs?: number): Promise<Run> {
    return this.engine.wait(runId, timeoutMs);
  }

  on(listener: (event: BatonEvent) => void): () => void {
    return this.engine.on(listener);
  }

  /**
   * The schedules (docs/schedules.md): list, get, save (create or replace), pause, resume,
   * trigger, delete — what `/v1/schedules` offers.
   *
   * @example
   * await baton.schedules.pause("nightly");
   * const { runId } = await baton.schedules.trigger("nightly");
   */
  get schedules(): Schedules {
    return this.engine.schedules;
  }

  /**
   * Publishes a user event to the durable log (docs/events.md) and starts the runs its topic
   * triggers, in one transaction. `id` is the idempotency key: publishing an id that exists
   * writes nothing and resolves with the existing event (`created: false`).
   *
   * @example
   * const { event } = await baton.publish("order.placed", { orderId: "o-1" }, { id: "o-1" });
   */
  publish(topic: string, data?: unknown, options?: PublishOptions): Promise<PublishResult> {
    return this.engine.publish(topic, data, options);
  }

  /**
   * Serves the HTTP API (docs/http-api.md) on 127.0.0.1:7070 unless told otherwise; port 0
   * picks a free port, see `url`. One server per Baton.
   *
   * @example
   * const { url } = await baton.serve({ port: 0, token: process.env.BATON_API_TOKEN });
   */
  async serve(options: ServeOptions = {}): Promise<Serving> {
    if (this.server) {
      throw new ConflictError(
        "CONFLICT",
        "this Baton already serves the API; close that server first",
      );
    }
    const bridge = this.eventBridge;
    const server = createServer(this.engine, {
      ...options,
      webhooks: this.webhooks,
      ...(bridge ? { eventBridge: () => bridge.stats } : {}),
    });
    this.server = server;
    try {
      await server.listen();
    } catch (e) {
      this.server = undefined;
      await server.close();
      throw e;
    }
    return {
      url: server.url,
      close: async () => {
        await server.close();
        if (this.server === server) this.server = undefined;
      },
    };
  }

  /** Stops serving first (streams end, requests in progress finish), then the engine. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
    this.stopWaking();
    await this.webhooks.close();
    await this.engine.close();
    await this.eventBridge?.close();
    await Promise.allSettled(
      [...this.transports.values()].map((t) => (t.close ? t.close() : Promise.resolve())),
    );
    await this.store.close();
  }
}

function collect<T>(
  source: readonly T[] | Record<string, unknown> | undefined,
  is: (v: unknown) => v is T,
): T[] {
  if (source === undefined) return [];
  const values = Array.isArray(source) ? (source as unknown[]) : Object.values(source);
  const found = values.filter(is);
  if (Array.isArray(source) && found.length !== values.length) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      "workflows, services and schedules must be values made by workflow(), service() and schedule()",
    );
  }
  return found;
}

/** A database several nodes may share: each node then owns runs through leases. */
function isSharedDatabase(db: string | undefined): boolean {
  return db !== undefined && /^postgres(ql)?:\/\//.test(db);
}
