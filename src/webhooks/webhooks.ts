import {
  DURABLE_EVENT_TYPES,
  NotFoundError,
  SystemClock,
  type Clock,
  type Logger,
} from "../common/index.js";
import type { AttemptRecord, Store, SubscriptionRecord } from "../store/index.js";
import { WebhookDispatcher, type AttemptReport } from "./dispatcher.js";
import { DEFAULT_WEBHOOK_RETRY, type WebhookRetryPolicy } from "./retry-schedule.js";
import {
  checkSecret,
  checkTopics,
  checkUrl,
  newSecret,
  newSubscriptionId,
  type SubscriptionInput,
} from "./subscription-input.js";
import { httpSender } from "./webhook-sender.js";

/** How webhook deliveries are made (all optional). */
export interface WebhookOptions {
  /** How often to look for other nodes' events, new subscriptions and due retries. Default 1000 ms. */
  pollMs?: number;
  /** How long one attempt holds its delivery against other nodes. Default 60 s; keep it above `requestTimeoutMs`. */
  leaseMs?: number;
  /** An attempt without an answer within this fails. Default 10 s. */
  requestTimeoutMs?: number;
  retry?: WebhookRetryPolicy;
  /** How long delivered deliveries and their attempts are kept (listed). Default 7 days. */
  retentionMs?: number;
  /** Attempts under way at once on this node (default 32), and per subscription (default 4). */
  maxInFlight?: number;
  perSubscription?: number;
  /** Source of the retry jitter, in [0, 1); tests pass a seeded one. Default Math.random. */
  random?: () => number;
  /**
   * Where "now" comes from: wall time by default, not the engine's clock — receivers check
   * `webhook-timestamp` against their own clocks, so deliveries are signed, timed and retried in
   * real time (the dispatcher's timers are the process's own).
   */
  clock?: Clock;
}

/** A subscription as shown: its secret only when just made. */
export interface Subscription {
  id: string;
  topics: string[];
  url: string;
  createdAt: number;
}

/**
 * Webhook subscriptions of one Baton (docs/webhooks.md): made, listed and removed here, and
 * delivered by the dispatcher it runs. Checks its input itself, so the HTTP API and embedded use
 * refuse the same things with the same codes.
 */
export class Webhooks {
  private readonly dispatcher: WebhookDispatcher;
  private readonly clock: Clock;

  constructor(
    private readonly store: Store,
    logger: Logger,
    options: WebhookOptions = {},
  ) {
    const clock = options.clock ?? new SystemClock();
    this.clock = clock;
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.dispatcher = new WebhookDispatcher(store, clock, logger, {
      pollMs: options.pollMs ?? 1000,
      retentionMs: options.retentionMs ?? 7 * 24 * 3_600_000,
      leaseMs: options.leaseMs ?? Math.max(60_000, requestTimeoutMs * 2),
      maxInFlight: options.maxInFlight ?? 32,
      perSubscription: options.perSubscription ?? 4,
      retry: { ...DEFAULT_WEBHOOK_RETRY, ...stripUndefined(options.retry ?? {}) },
      random: options.random ?? Math.random,
      send: httpSender({ timeoutMs: requestTimeoutMs }),
      onSubscriptionsPresent: (present) => this.listenWhile(present),
    });
  }

  private listen: ((notice: (type: string) => void) => () => void) | undefined;
  private stopListening: (() => void) | undefined;

  private listenWhile(present: boolean): void {
    if (present && !this.stopListening && this.listen) {
      this.stopListening = this.listen((type) => this.noticeEvent(type));
    } else if (!present && this.stopListening) {
      this.stopListening();
      this.stopListening = undefined;
    }
  }

  /**
   * Starts delivering. `listen` subscribes to the engine's live events and returns how to stop:
   * it is called only while subscriptions exist, so that a node without any pays nothing per
   * commit (live events are built only when someone listens); the poll finds the rest.
   */
  start(listen?: (notice: (type: string) => void) => () => void): void {
    this.listen = listen;
    this.dispatcher.start();
  }

  /** Stops hearing the engine's live events (the dispatcher itself stops with close). */
  stopNoticing(): void {
    this.listen = undefined;
    this.listenWhile(false);
  }

  /**
   * A live event of this node's engine: if it is one the durable log keeps (a run's end, a user
   * event), it was committed — look at the log now rather than at the next poll.
   */
  noticeEvent(type: string): void {
    if (isLogged(type)) this.dispatcher.wake();
  }

  /** Makes a subscription; the answer carries its secret, which no later read shows. */
  async create(input: SubscriptionInput): Promise<Subscription & { secret: string }> {
    const topics = checkTopics(input.topics);
    const url = checkUrl(input.url);
    const secret = input.secret === undefined ? newSecret() : checkSecret(input.secret);
    const record = await this.store.webhooks.createSubscription({
      subscriptionId: newSubscriptionId(),
      topics,
      url,
      secret,
      createdAt: this.clock.now(),
    });
    this.dispatcher.subscriptionsChanged();
    return { ...shown(record), secret };
  }

  async list(): Promise<Subscription[]> {
    return (await this.store.webhooks.listSubscriptions()).map(shown);
  }

  /** Throws SUBSCRIPTION_NOT_FOUND. */
  async get(id: string): Promise<Subscription> {
    return shown(await this.getRecord(id));
  }

  /** Stops its deliveries and forgets them; throws SUBSCRIPTION_NOT_FOUND. */
  async delete(id: string): Promise<void> {
    if (!(await this.store.webhooks.deleteSubscription(id))) throw notFound(id);
    this.dispatcher.subscriptionsChanged();
  }

  /** Its attempts, newest first; throws SUBSCRIPTION_NOT_FOUND. */
  async deliveries(id: string, limit = 100): Promise<AttemptRecord[]> {
    await this.getRecord(id);
    return this.store.webhooks.listAttempts(id, limit);
  }

  /** Deliveries not yet made, and how long the oldest has waited (ms). */
  async backlog(): Promise<{ pending: number; lagMs: number }> {
    const { pending, oldestCreatedAt } = await this.store.webhooks.deliveryBacklog();
    return {
      pending,
      lagMs: oldestCreatedAt === null ? 0 : Math.max(0, this.clock.now() - oldestCreatedAt),
    };
  }

  /** Every finished attempt of this node, for metrics. */
  onAttempt(listener: (report: AttemptReport) => void): () => void {
    return this.dispatcher.onAttempt(listener);
  }

  /** Stops delivering; attempts under way finish first. */
  close(): Promise<void> {
    return this.dispatcher.close();
  }

  private async getRecord(id: string): Promise<SubscriptionRecord> {
    const record = await this.store.webhooks.findSubscription(id);
    if (!record) throw notFound(id);
    return record;
  }
}

const BATON_TOPIC = /^(run|step|compensation|baton)\./;
const LOGGED: ReadonlySet<string> = new Set(DURABLE_EVENT_TYPES);

function isLogged(type: string): boolean {
  return LOGGED.has(type) || !BATON_TOPIC.test(type);
}

function shown(record: SubscriptionRecord): Subscription {
  return {
    id: record.subscriptionId,
    topics: record.topics,
    url: record.url,
    createdAt: record.createdAt,
  };
}

function notFound(id: string): NotFoundError {
  return new NotFoundError("SUBSCRIPTION_NOT_FOUND", `no webhook subscription ${id}`);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
