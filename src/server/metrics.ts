import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CollectFunction,
} from "prom-client";
import {
  EventType,
  RUN_STATUSES,
  isRunEvent,
  type BatonEvent,
  type ServiceInfo,
} from "../common/index.js";
import type { Engine } from "../engine/index.js";
import type { Webhooks } from "../webhooks/index.js";
import type { EventHub } from "./event-hub.js";

/** Step latencies span a local step (ms) to a call that waited on a worker queue (minutes). */
const STEP_DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

const MISNAMED_DEFAULT_METRICS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * The server's Prometheus metrics, on a registry of its own: two servers in one process (as
 * in the tests) never share or clash over a metric. Counters and the histogram follow the
 * engine's live events; gauges read the engine when scraped.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly stops: Array<() => void> = [];

  constructor(
    engine: Engine,
    hub: EventHub,
    options: {
      processMetrics: boolean;
      webhooks?: Webhooks | undefined;
      eventBridge?: () => EventBridgeFigures;
    },
  ) {
    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client names these three gauges `_total`, a suffix Prometheus reserves for
      // counters (promtool rejects them). Each is the sum of its by-type gauge, which stays:
      // sum(nodejs_active_handles) is the same number.
      for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
    const registers = [this.registry];

    new Gauge({
      name: "baton_runs",
      help: "Runs in the store, by workflow and status.",
      labelNames: ["workflow", "status"] as const,
      registers,
      async collect() {
        this.reset();
        for (const workflow of await engine.workflowCounts()) {
          for (const status of RUN_STATUSES) {
            const count = workflow[status];
            if (typeof count === "number") this.set({ workflow: workflow.name, status }, count);
          }
        }
      },
    });

    // The three service gauges are read in one scrape: they share one read of engine.services().
    const services = coalesced(() => engine.services());
    const serviceGauge = (
      name: string,
      help: string,
      value: (service: ServiceInfo) => number,
    ): void => {
      const collect: CollectFunction<Gauge<"service">> = async function () {
        this.reset();
        for (const service of await services()) this.set({ service: service.name }, value(service));
      };
      new Gauge({ name, help, labelNames: ["service"] as const, registers, collect });
    };
    serviceGauge(
      "baton_queue_depth",
      "Commands waiting in a service's queue for a worker.",
      (s) => s.queueDepth,
    );
    serviceGauge(
      "baton_tasks_in_flight",
      "Commands a worker holds (queue) or calls in progress (http, local), by service.",
      (s) => s.inFlight,
    );
    serviceGauge(
      "baton_workers",
      "Workers that polled a service in the last 30 s.",
      (s) => s.workers,
    );

    new Counter({
      name: "baton_schedule_ticks_total",
      help: "Schedule ticks this node decided: fired (started a run) or skipped (overlap, missed).",
      labelNames: ["schedule", "outcome"] as const,
      registers,
      collect() {
        this.reset();
        for (const { schedule, fired, skipped } of engine.schedules.tickCounts()) {
          this.inc({ schedule, outcome: "fired" }, fired);
          for (const [reason, n] of Object.entries(skipped)) {
            this.inc({ schedule, outcome: `skipped_${reason}` }, n);
          }
        }
      },
    });

    if (options.eventBridge) registerBridgeMetrics(options.eventBridge, registers);

    const stepDuration = new Histogram({
      name: "baton_step_duration_seconds",
      help: "Duration of steps and calls, from start to their final outcome, retries included.",
      labelNames: ["workflow", "kind", "name", "outcome"] as const,
      buckets: STEP_DURATION_BUCKETS,
      registers,
    });
    const stepRetries = new Counter({
      name: "baton_step_retries_total",
      help: "Failed attempts of steps and calls that were followed by another attempt.",
      labelNames: ["workflow", "kind", "name"] as const,
      registers,
    });
    const compensations = new Counter({
      name: "baton_compensations_total",
      help: "Runs that began compensating (rolling back), by workflow.",
      labelNames: ["workflow"] as const,
      registers,
    });
    const runsFinished = new Counter({
      name: "baton_runs_finished_total",
      help: "Runs that reached a terminal status in this process, by workflow and status.",
      labelNames: ["workflow", "status"] as const,
      registers,
    });

    new Counter({
      name: "baton_retention_deleted_rows_total",
      help: "Rows deleted by retention on this node, by table (runs: the runs themselves).",
      labelNames: ["table"] as const,
      registers,
      collect() {
        this.reset();
        for (const [table, rows] of engine.retentionDeleted) this.inc({ table }, rows);
      },
    });
    if (options.webhooks) this.stops.push(registerWebhookMetrics(options.webhooks, registers));

    hub.onEvery((event) => {
      if (!isRunEvent(event)) return;
      switch (event.type) {
        case EventType.StepCompleted:
        case EventType.StepFailed: {
          const step = stepFacts(event);
          if (step.durationMs === undefined) return;
          const outcome = event.type === EventType.StepCompleted ? "completed" : "failed";
          stepDuration.observe(
            { workflow: event.workflow, kind: step.kind, name: step.name, outcome },
            step.durationMs / 1000,
          );
          return;
        }
        case EventType.StepRetrying: {
          const step = stepFacts(event);
          stepRetries.inc({ workflow: event.workflow, kind: step.kind, name: step.name });
          return;
        }
        case EventType.RunCompensating:
          compensations.inc({ workflow: event.workflow });
          return;
        case EventType.RunCompleted:
        case EventType.RunFailed:
        case EventType.RunCancelled:
          runsFinished.inc({ workflow: event.workflow, status: event.status });
          return;
        case EventType.RunStarted:
        case EventType.RunRetried:
        case EventType.RunContinued:
        case EventType.RunUpdated:
        case EventType.CompensationFailed:
          return;
      }
    });
  }

  /** Stops following what outlives the server (the webhook attempts of its Baton). */
  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric, gauges read fresh. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Attempts by outcome (counted as they finish on this node); the backlog read when scraped. */
function registerWebhookMetrics(webhooks: Webhooks, registers: Registry[]): () => void {
  const attempts = new Counter({
    name: "baton_webhook_deliveries_total",
    help: "Webhook delivery attempts made by this node, by outcome (delivered: a 2xx; failed: retried later).",
    labelNames: ["outcome"] as const,
    registers,
  });
  for (const outcome of ["delivered", "failed"]) attempts.inc({ outcome }, 0);
  const stop = webhooks.onAttempt((report) => attempts.inc({ outcome: report.outcome }));
  const backlog = coalesced(() => webhooks.backlog());
  new Gauge({
    name: "baton_webhook_queue_depth",
    help: "Webhook deliveries not yet made (retries waiting included), all subscriptions.",
    registers,
    async collect() {
      this.set((await backlog()).pending);
    },
  });
  new Gauge({
    name: "baton_webhook_lag_seconds",
    help: "How long the oldest webhook delivery not yet made has waited.",
    registers,
    async collect() {
      this.set((await backlog()).lagMs / 1000);
    },
  });
  return stop;
}

/** What the event bridge to a broker reports (docs/rabbitmq.md, "The event bridge"). */
export interface EventBridgeFigures {
  published: number;
  dropped: number;
  buffered: number;
  connected: boolean;
}

function registerBridgeMetrics(read: () => EventBridgeFigures, registers: Registry[]): void {
  const counter = (name: string, help: string, value: (f: EventBridgeFigures) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value(read()));
      },
    });
  };
  counter(
    "baton_event_bridge_published_total",
    "Events the broker confirmed on the event bridge's exchange.",
    (f) => f.published,
  );
  counter(
    "baton_event_bridge_dropped_total",
    "Events dropped because the event bridge's buffer was full (the broker slow or down).",
    (f) => f.dropped,
  );
  new Gauge({
    name: "baton_event_bridge_buffered",
    help: "Events waiting to be published to the broker.",
    registers,
    collect() {
      this.set(read().buffered);
    },
  });
  new Gauge({
    name: "baton_event_bridge_connected",
    help: "1 while the event bridge is connected to its broker, else 0.",
    registers,
    collect() {
      this.set(read().connected ? 1 : 0);
    },
  });
}

function stepFacts(event: BatonEvent): { kind: string; name: string; durationMs?: number } {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const facts: { kind: string; name: string; durationMs?: number } = {
    kind: typeof data.kind === "string" ? data.kind : "unknown",
    name: typeof data.name === "string" ? data.name : "unknown",
  };
  if (typeof data.durationMs === "number") facts.durationMs = data.durationMs;
  return facts;
}

/** Calls made while one is in flight share its promise: one engine read per scrape. */
function coalesced<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= read().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
