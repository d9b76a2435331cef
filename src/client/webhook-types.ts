/** A webhook subscription (docs/webhooks.md). */
export interface Subscription {
  id: string;
  /** Topic patterns: dotted names, `*` for one whole segment. */
  topics: string[];
  url: string;
  createdAt: string;
}

/** What `createSubscription` answers: the subscription and its signing secret, shown only then. */
export interface CreatedSubscription extends Subscription {
  secret: string;
}

export interface NewSubscription {
  topics: readonly string[];
  /** An absolute http or https URL. */
  url: string;
  /** A Standard Webhooks secret (`whsec_…`); one is generated if absent. */
  secret?: string;
}

/** One attempt to deliver an event to a subscription. */
export interface DeliveryAttempt {
  /** The event's id, sent as `webhook-id`: the same on every attempt of one event. */
  eventId: string;
  attempt: number;
  at: string;
  durationMs: number;
  /** The receiver's status, or null when no answer came. */
  statusCode: number | null;
  /** Why it was not a delivery (`HTTP 500`, `ECONNREFUSED…`); null for a 2xx. */
  error: string | null;
  /** When the next attempt is due; null once delivered. */
  nextAttemptAt: string | null;
}
