import type { AttemptRecord, ClaimedDelivery, SubscriptionRecord } from "./webhook-store.js";

/** Rows of the webhook tables as both drivers return them (BIGINT parsed to number). */
export interface SubscriptionRow {
  subscription_id: string;
  topics: string;
  url: string;
  secret: string;
  created_at: number;
  after_event_id: number;
}

export interface ClaimedRow {
  subscription_id: string;
  event_id: number;
  event_key: string;
  topic: string;
  payload: string;
  created_at: number;
  attempts: number;
  lease_token: string;
  lease_expires_at: number;
  url: string;
  secret: string;
}

export interface AttemptRow {
  subscription_id: string;
  event_id: number;
  event_key: string;
  attempt: number;
  at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  next_attempt_at: number | null;
}

export function toSubscriptionRecord(row: SubscriptionRow): SubscriptionRecord {
  return {
    subscriptionId: row.subscription_id,
    topics: JSON.parse(row.topics) as string[],
    url: row.url,
    secret: row.secret,
    createdAt: row.created_at,
    afterEventId: row.after_event_id,
  };
}

export function toClaimedDelivery(row: ClaimedRow): ClaimedDelivery {
  return {
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    eventKey: row.event_key,
    topic: row.topic,
    payload: row.payload,
    createdAt: row.created_at,
    attempt: row.attempts,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    url: row.url,
    secret: row.secret,
  };
}

export function toAttemptRecord(row: AttemptRow): AttemptRecord {
  return {
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    eventKey: row.event_key,
    attempt: row.attempt,
    at: row.at,
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    error: row.error,
    nextAttemptAt: row.next_attempt_at,
  };
}
