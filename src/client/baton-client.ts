import {
  isTerminal,
  type BatonEvent,
  type HistoryEvent,
  type Run,
  type Schedule,
  type ServiceInfo,
  type Task,
} from "../common/index.js";
import { BatonClientError } from "./client-error.js";
import { followEventStream } from "./event-stream.js";
import { HttpApi } from "./http-api.js";
import type {
  BatonClientOptions,
  EventsOptions,
  ListRunsQuery,
  PollOptions,
  SaveScheduleRequest,
  StartRunOptions,
  StreamOptions,
  TaskFailure,
  WorkflowSummary,
} from "./types.js";
import type {
  CreatedSubscription,
  DeliveryAttempt,
  NewSubscription,
  Subscription,
} from "./webhook-types.js";

const DEFAULT_URL = "http://127.0.0.1:7070";
const DEFAULT_TIMEOUT_MS = 30_000;
/** A stream that keeps failing this many times in a row is reported rather than retried. */
const MAX_STREAM_RECONNECTS = 5;

/**
 * The typed client of Baton's HTTP API (docs/http-api.md). Every failure is a BatonClientError
 * (a BatonError) carrying the server's `code`, `message` and `details`; an unreachable server
 * is `UNAVAILABLE`. Uses only fetch, so it runs in Node and in browsers alike.
 *
 * @example
 * const client = new BatonClient({ url: "http://127.0.0.1:7070" });
 * const { run } = await client.startRun("placeOrder", { orderId: "o-1" }, { runId: "o-1", waitSeconds: 30 });
 * console.log(run.status, run.output);
 */
export class BatonClient {
  /** The server's base URL, without a trailing slash. */
  readonly url: string;
  private readonly api: HttpApi;

  constructor(options: BatonClientOptions = {}) {
    const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.api = new HttpApi({
      url: options.url ?? env("BATON_URL") ?? DEFAULT_URL,
      token: options.token ?? env("BATON_API_TOKEN"),
      fetch: fetchFn,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    this.url = this.api.url;
  }

  // ─── Runs ──────────────────────────────────────────────────────────────────────────────

  /**
   * Starts a run, or returns the run that already has this id (`created: false`).
   * With `waitSeconds`, answers once the run is terminal or the wait ends.
   */
  async startRun(
    workflow: string | { readonly name: string },
    input?: unknown,
    options: StartRunOptions = {},
  ): Promise<{ run: Run; created: boolean }> {
    const name = typeof workflow === "string" ? workflow : workflow.name;
    const { status, body } = await this.api.request<Run>({
      method: "POST",
      path: `/v1/workflows/${segment(name)}/runs`,
      query: { wait: options.waitSeconds },
      body: {
        input,
        ...(options.runId !== undefined ? { runId: options.runId } : {}),
        ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
        ...(options.version !== undefined ? { version: options.version } : {}),
        ...(options.tags !== undefined ? { tags: options.tags } : {}),
      },
      ...(options.idempotencyKey !== undefined
        ? { headers: { "idempotency-key": options.idempotencyKey } }
        : {}),
      extraTimeoutMs: (options.waitSeconds ?? 0) * 1000,
    });
    return { run: body, created: status === 201 };
  }

  /** The run with its steps; `RUN_NOT_FOUND` if there is none. */
  async getRun(runId: string): Promise<Run> {
    return (await this.api.request<Run>({ method: "GET", path: runPath(runId) })).body;
  }

  /** Runs newest first, without their steps; pass `nextCursor` back as `cursor` for the next page. */
  async listRuns(query: ListRunsQuery = {}): Promise<{ runs: Run[]; nextCursor?: string }> {
    const { body } = await this.api.request<{ runs: Run[]; nextCursor?: string }>({
      method: "GET",
      path: "/v1/runs",
      query: {
        workflow: query.workflow,
        status: query.status,
        runIdPrefix: query.runIdPrefix,
        limit: query.limit,
        cursor: query.cursor,
        tag: query.tags && Object.entries(query.tags).map(([key, value]) => `${key}:${value}`),
        createdAfter: isoOf(query.createdAfter),
        createdBefore: isoOf(query.createdBefore),
      },
    });
    return body;
  }

  /** The run's journal, oldest first. */
  async history(runId: string): Promise<HistoryEvent[]> {
    const { body } = await this.api.request<{ events: HistoryEvent[] }>({
      method: "GET",
      path: `${runPath(runId)}/history`,
    });
    return body.events;
  }

  /**
   * The run as it changes: a snapshot per state change, ending after the terminal one. A dropped
   * connection is resumed; a snapshot already seen is not repeated.
   */
  async *streamRun(
    runId: string,
    options: StreamOptions = {},
  ): AsyncGenerator<Run, void, undefined> {
    const path = `${runPath(runId)}/stream`;
    let previous: string | undefined;
    for await (const event of followEventStream(
      (lastEventId, signal) =>
        this.api.stream({ method: "GET", path, signal, headers: sseHeaders(lastEventId) }),
      {
        signal: options.signal,
        maxReconnects: MAX_STREAM_RECONNECTS,
        describe: `stream of run ${runId}`,
      },
    )) {
      if (event.event !== "run" && event.event !== "message") continue;
      if (event.data === previous) continue;
      previous = event.data;
      const run = parseData<Run>(event.data, `stream of run ${runId}`);
      yield run;
      if (isTerminal(run.status)) return;
    }
  }

  /** Sends a signal; one sent before the run waits for it is kept. */
  async signal(runId: string, name: string, payload?: unknown): Promise<void> {
    await this.api.request({
      method: "POST",
      path: `${runPath(runId)}/signals/${segment(name)}`,
      body: payload === undefined ? {} : { payload },
    });
  }

  /** Cancels a run: it compensates, then ends `cancelled`. `RUN_TERMINAL` if it already ended. */
  async cancel(runId: string, options: { reason?: string } = {}): Promise<void> {
    await this.api.request({
      method: "POST",
      path: `${runPath(runId)}/cancel`,
      body: options.reason === undefined ? {} : { reason: options.reason },
    });
  }

  /**
   * Resumes a `failed` run where it stopped, or, for a run rolling back whose compensation failed
   * and waits (`waitingOn.compensates` set), runs that compensation again. `RUN_NOT_FAILED` for
   * any other run.
   */
  async retry(runId: string): Promise<void> {
    await this.api.request({ method: "POST", path: `${runPath(runId)}/retry`, body: {} });
  }

  /**
   * Skips the failed compensation of operation `seq` in a run rolling back that waits on it
   * (`waitingOn.kind` `"operator"`, or `"retry"`, with `waitingOn.compensates === seq`): the skip
   * is durable when this resolves, the rollback goes on with the other compensations, and the
   * run ends `failed` with `PARTIALLY_COMPENSATED`. `NO_FAILED_COMPENSATION` when no compensation
   * of that seq waits, `RUN_TERMINAL` when the run has ended, `RUN_NOT_FOUND`.
   *
   * @example
   * const run = await client.getRun("o-1");
   * if (run.waitingOn?.kind === "operator" && run.waitingOn.compensates !== undefined) {
   *   await client.skipCompensation("o-1", run.waitingOn.compensates);
   * }
   */
  async skipCompensation(runId: string, seq: number): Promise<void> {
    if (!Number.isInteger(seq) || seq < 1) {
      throw new BatonClientError(
        "INVALID_ARGUMENT",
        `seq must be a whole number ≥ 1, got ${JSON.stringify(seq)}`,
      );
    }
    await this.api.request({
      method: "POST",
      path: `${runPath(runId)}/compensations/${seq}/skip`,
      body: {},
    });
  }

  // ─── Schedules (docs/schedules.md) ─────────────────────────────────────────────────────

  /** Every schedule with its next five fire times, paused state and last runs. */
  async listSchedules(): Promise<Schedule[]> {
    const { body } = await this.api.request<{ schedules: Schedule[] }>({
      method: "GET",
      path: "/v1/schedules",
    });
    return body.schedules;
  }

  /** One schedule; `SCHEDULE_NOT_FOUND` if none has that name. */
  async getSchedule(name: string): Promise<Schedule> {
    return (await this.api.request<Schedule>({ method: "GET", path: schedulePath(name) })).body;
  }

  /**
   * Creates a schedule, or replaces the spec of the one of that name (`created: false`; its
   * paused state is kept). `INVALID_CRON`, `INVALID_TIMEZONE`, `UNKNOWN_WORKFLOW`, `INVALID_SCHEDULE`.
   *
   * @example
   * await client.saveSchedule({ name: "nightly", cron: "0 3 * * *", timezone: "Europe/Berlin", workflow: "report" });
   */
  async saveSchedule(
    request: SaveScheduleRequest,
  ): Promise<{ created: boolean; schedule: Schedule }> {
    const { status, body } = await this.api.request<Schedule>({
      method: "POST",
      path: "/v1/schedules",
      body: request,
    });
    return { created: status === 201, schedule: body };
  }

  /** Pauses a schedule: its ticks start no run until it is resumed. */
  async pauseSchedule(name: string): Promise<Schedule> {
    return (
      await this.api.request<Schedule>({
        method: "POST",
        path: `${schedulePath(name)}/pause`,
        body: {},
      })
    ).body;
  }

  /** Resumes a schedule from its next tick; ticks that fell while it was paused do not fire. */
  async resumeSchedule(name: string): Promise<Schedule> {
    return (
      await this.api.request<Schedule>({
        method: "POST",
        path: `${schedulePath(name)}/resume`,
        body: {},
      })
    ).body;
  }

  /** Starts a run of the schedule now (run id `{schedule}:manual:{ISO}`), paused or not. */
  async triggerSchedule(name: string): Promise<{ runId: string }> {
    return (
      await this.api.request<{ runId: string }>({
        method: "POST",
        path: `${schedulePath(name)}/trigger`,
        body: {},
      })
    ).body;
  }

  /** Deletes a schedule; its runs stay. */
  async deleteSchedule(name: string): Promise<void> {
    await this.api.request({ method: "DELETE", path: schedulePath(name), body: {} });
  }

  // ─── The orchestrator ──────────────────────────────────────────────────────────────────

  /** Every workflow with its number of runs in each status. */
  async workflows(): Promise<WorkflowSummary[]> {
    const { body } = await this.api.request<{ workflows: WorkflowSummary[] }>({
      method: "GET",
      path: "/v1/workflows",
    });
    return body.workflows;
  }

  /** Every service with its transport, queue depth, workers and recent outcomes. */
  async services(): Promise<ServiceInfo[]> {
    const { body } = await this.api.request<{ services: ServiceInfo[] }>({
      method: "GET",
      path: "/v1/services",
    });
    return body.services;
  }

  // ─── Webhooks ──────────────────────────────────────────────────────────────────────────

  /**
   * Subscribes a URL to events (docs/webhooks.md): each event committed from now on whose topic
   * matches is POSTed to `url`, signed (Standard Webhooks), until a 2xx. Keep the answer's
   * `secret`: receivers verify with it, and no later read shows it. `INVALID_URL`,
   * `INVALID_TOPIC`, `INVALID_SECRET` for bad input.
   *
   * @example
   * const { id, secret } = await client.createSubscription({ topics: ["run.failed"], url: "https://ops.example.com/hooks" });
   */
  async createSubscription(subscription: NewSubscription): Promise<CreatedSubscription> {
    const { body } = await this.api.request<CreatedSubscription>({
      method: "POST",
      path: "/v1/subscriptions",
      body: subscription,
    });
    return body;
  }

  /** Every webhook subscription, oldest first. */
  async listSubscriptions(): Promise<Subscription[]> {
    const { body } = await this.api.request<{ subscriptions: Subscription[] }>({
      method: "GET",
      path: "/v1/subscriptions",
    });
    return body.subscriptions;
  }

  /** One subscription; `SUBSCRIPTION_NOT_FOUND` if there is none with this id. */
  async getSubscription(id: string): Promise<Subscription> {
    const { body } = await this.api.request<Subscription>({
      method: "GET",
      path: subscriptionPath(id),
    });
    return body;
  }

  /** Removes a subscription and its pending deliveries; `SUBSCRIPTION_NOT_FOUND`. */
  async deleteSubscription(id: string): Promise<void> {
    await this.api.request({ method: "DELETE", path: subscriptionPath(id) });
  }

  /** A subscription's delivery attempts, newest first (at most `limit`, default 100). */
  async subscriptionDeliveries(
    id: string,
    options: { limit?: number } = {},
  ): Promise<DeliveryAttempt[]> {
    const { body } = await this.api.request<{ deliveries: DeliveryAttempt[] }>({
      method: "GET",
      path: `${subscriptionPath(id)}/deliveries`,
      query: { limit: options.limit },
    });
    return body.deliveries;
  }

  /**
   * Publishes a user event (docs/events.md). `id` is its idempotency key: publishing an id that
   * exists writes nothing and answers with the existing event (`created: false`), so a publish
   * may be retried after any error.
   *
   * @example
   * await client.publish("order.placed", { orderId: "o-1" }, { id: "order-o-1" });
   */
  async publish(
    topic: string,
    data?: unknown,
    options: { id?: string } = {},
  ): Promise<{ id: string; created: boolean; event?: BatonEvent }> {
    const { status, body } = await this.api.request<{ id: string } | BatonEvent>({
      method: "POST",
      path: "/v1/events",
      body: {
        topic,
        ...(data !== undefined ? { data } : {}),
        ...(options.id !== undefined ? { id: options.id } : {}),
      },
    });
    if (status === 202) return { id: (body as { id: string }).id, created: true };
    const event = body as BatonEvent;
    return { id: event.eventId!, created: false, event };
  }

  /**
   * Events until `signal` aborts: run and step events (`run.started`, `step.completed`,
   * `run.failed`…) and user events (`order.placed`). Live by default: a dropped connection is
   * resumed, but what was published while it was down is not replayed. With `after` (a log
   * position, 0 for the beginning), the durable log instead — user events and run ends of every
   * node — resumed exactly where it stopped across dropped connections (`Last-Event-ID`).
   */
  async *events(options: EventsOptions = {}): AsyncGenerator<BatonEvent, void, undefined> {
    const query = {
      topic: options.topics?.length ? options.topics.join(",") : undefined,
      workflow: options.workflow,
      runId: options.runId,
      after: options.after,
    };
    for await (const event of followEventStream(
      (lastEventId, signal) =>
        this.api.stream({
          method: "GET",
          path: "/v1/events",
          query,
          signal,
          headers: sseHeaders(lastEventId),
        }),
      { signal: options.signal, maxReconnects: MAX_STREAM_RECONNECTS, describe: "event stream" },
    )) {
      yield parseData<BatonEvent>(event.data, "event stream");
    }
  }

  /** Liveness: resolves when the server answers `/healthz`, rejects with `UNAVAILABLE` if not. */
  async health(): Promise<{ status: string }> {
    return (await this.api.request<{ status: string }>({ method: "GET", path: "/healthz" })).body;
  }

  // ─── Workers (docs/workers.md) ─────────────────────────────────────────────────────────

  /** Leases up to `max` tasks of a queue-served service, waiting up to `waitSeconds` for one. */
  async pollTasks(service: string, options: PollOptions): Promise<Task[]> {
    const { body } = await this.api.request<{ tasks: Task[] }>({
      method: "POST",
      path: `/v1/services/${segment(service)}/tasks/poll`,
      body: {
        workerId: options.workerId,
        ...(options.max !== undefined ? { max: options.max } : {}),
        ...(options.waitSeconds !== undefined ? { waitSeconds: options.waitSeconds } : {}),
      },
      signal: options.signal,
      extraTimeoutMs: (options.waitSeconds ?? 0) * 1000,
    });
    return body.tasks;
  }

  /** Reports a task's output; completing twice is harmless; `LEASE_LOST` if the lease was lost. */
  async completeTask(taskId: string, output: unknown): Promise<void> {
    await this.api.request({
      method: "POST",
      path: `${taskPath(taskId)}/complete`,
      body: { output },
    });
  }

  /** Reports a task's failure; the call's retry policy decides what happens next. */
  async failTask(taskId: string, failure: TaskFailure): Promise<void> {
    await this.api.request({ method: "POST", path: `${taskPath(taskId)}/fail`, body: failure });
  }

  /** Extends a task's lease; `LEASE_LOST` (409) if it was already lost. */
  async heartbeatTask(taskId: string, details?: unknown): Promise<{ leaseExpiresAt?: string }> {
    const { body } = await this.api.request<{ leaseExpiresAt?: string } | undefined>({
      method: "POST",
      path: `${taskPath(taskId)}/heartbeat`,
      body: details === undefined ? {} : { details },
    });
    return body ?? {};
  }
}

function subscriptionPath(id: string): string {
  return `/v1/subscriptions/${segment(id)}`;
}

function runPath(runId: string): string {
  return `/v1/runs/${segment(runId)}`;
}

function schedulePath(name: string): string {
  return `/v1/schedules/${segment(name)}`;
}

function taskPath(taskId: string): string {
  return `/v1/tasks/${segment(taskId)}`;
}

function segment(value: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new BatonClientError(
      "INVALID_ARGUMENT",
      `expected a non-empty string, got ${JSON.stringify(value)}`,
    );
  }
  return encodeURIComponent(value);
}

function sseHeaders(lastEventId: string | undefined): Record<string, string> {
  return {
    accept: "text/event-stream",
    ...(lastEventId !== undefined ? { "last-event-id": lastEventId } : {}),
  };
}

function parseData<T>(data: string, what: string): T {
  try {
    return JSON.parse(data) as T;
  } catch (e) {
    throw new BatonClientError(
      "UNEXPECTED_RESPONSE",
      `${what} sent data that is not JSON: ${data.slice(0, 200)}`,
      {
        cause: e,
      },
    );
  }
}

/** Environment defaults where there is an environment (Node), none in a browser. */
function env(name: string): string | undefined {
  const processLike = (globalThis as { process?: { env?: Record<string, string | undefined> } })
    .process;
  const value = processLike?.env?.[name];
  return value ? value : undefined;
}

function isoOf(time: Date | string | undefined): string | undefined {
  return time instanceof Date ? time.toISOString() : time;
}
