/**
 * The durable side of webhook subscriptions (docs/webhooks.md): subscriptions, one global cursor
 * that fans the event log out into deliveries, deliveries claimed under a lease, and the attempts
 * made. SQLite and PostgreSQL implement it and both pass the webhook cases of conformance.ts.
 * Times are the caller's clock, in ms.
 */
export interface WebhookStore {
  /**
   * Stores a new subscription. It receives only events committed after this call: its
   * `afterEventId` is the newest event id committed by then (on PostgreSQL, read under the lock
   * that orders event ids, so no event with a smaller id can commit later).
   */
  createSubscription(subscription: NewSubscription): Promise<SubscriptionRecord>;
  listSubscriptions(): Promise<SubscriptionRecord[]>;
  findSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined>;
  /** Removes it with its deliveries and attempts; false if there was none. */
  deleteSubscription(subscriptionId: string): Promise<boolean>;

  /** The id of the last event fanned out into deliveries. */
  readCursor(): Promise<number>;
  /**
   * Moves the cursor from `fromEventId` to `toEventId` and inserts `deliveries`, in one
   * transaction, only if the cursor is still at `fromEventId` (else another node did it) and no
   * subscription outside `knownSubscriptions` wants events up to `toEventId` (one made meanwhile,
   * which the deliveries leave out); false otherwise, and nothing is written. A delivery of a
   * subscription deleted meanwhile is skipped; one that exists is left as it is.
   */
  fanOut(fanOut: FanOut): Promise<boolean>;
  /**
   * Leases up to `limit` pending deliveries due at `now` whose lease is free or lapsed — at most
   * `perSubscription` of one subscription, none of `excludeSubscriptions` — each as its next
   * attempt, until `now + leaseMs`. Two callers never get the same attempt.
   */
  claimDeliveries(claim: DeliveryClaim): Promise<ClaimedDelivery[]>;
  /**
   * Records attempts' outcomes, in one transaction (a group commit: one sync for many attempts).
   * A 2xx (`nextAttemptAt` null) marks the delivery delivered whoever holds it; a failure sets
   * the next attempt only while `leaseToken` still holds the delivery ("lost" otherwise: the
   * lease lapsed and another sender took it over). Each attempt row is written either way (once
   * per attempt number). Answers in the order given.
   */
  recordAttempts(outcomes: readonly AttemptOutcome[]): Promise<Array<"recorded" | "lost">>;
  /** A subscription's attempts, newest first. */
  listAttempts(subscriptionId: string, limit: number): Promise<AttemptRecord[]>;
  /**
   * Removes up to `limit` deliveries delivered before `before`, with their attempts; returns how
   * many. Pending ones are kept, whatever their age: their attempts say why they wait.
   */
  pruneDelivered(before: number, limit: number): Promise<number>;
  /** Deliveries not yet delivered, and when the oldest of them was made. */
  deliveryBacklog(): Promise<{ pending: number; oldestCreatedAt: number | null }>;
  /** The earliest `next_attempt_at` of a pending delivery (a lapsed lease counts as due). */
  nextDeliveryAt(): Promise<number | undefined>;
}

export interface NewSubscription {
  subscriptionId: string;
  topics: readonly string[];
  url: string;
  secret: string;
  createdAt: number;
}

export interface SubscriptionRecord extends NewSubscription {
  topics: string[];
  afterEventId: number;
}

export interface NewDelivery {
  subscriptionId: string;
  /** The event's position in the log. */
  eventId: number;
  /** The event's id as receivers see it (`webhook-id`): the same on every attempt. */
  eventKey: string;
  topic: string;
  /** The JSON body sent, as text. */
  payload: string;
  createdAt: number;
}

export interface FanOut {
  fromEventId: number;
  toEventId: number;
  deliveries: readonly NewDelivery[];
  /** The subscriptions the deliveries were planned for. */
  knownSubscriptions: readonly string[];
}

export interface FanOut {
  fromEventId: number;
  toEventId: number;
  deliveries: readonly NewDelivery[];
  /** The subscriptions the deliveries were planned for. */
  knownSubscriptions: readonly string[];
}

export interface DeliveryClaim {
  now: number;
  limit: number;
  leaseMs: number;
  perSubscription: number;
  excludeSubscriptions: readonly string[];
}

export interface ClaimedDelivery extends NewDelivery {
  /** This attempt's number, 1 for the first. */
  attempt: number;
  leaseToken: string;
  leaseExpiresAt: number;
  url: string;
  secret: string;
}

export interface AttemptRecord {
  subscriptionId: string;
  eventId: number;
  eventKey: string;
  attempt: number;
  at: number;
  durationMs: number;
  /** The HTTP status answered, or null when none came (see `error`). */
  statusCode: number | null;
  /** Why no 2xx: a network error or timeout, or the status line. Null when delivered. */
  error: string | null;
  /** When the next attempt is due; null once delivered. */
  nextAttemptAt: number | null;
}

export interface AttemptOutcome extends AttemptRecord {
  leaseToken: string;
}
