import type { EventRecord } from "../store/index.js";

/** An event as subscribers receive it. */
export interface WebhookEvent {
  /** Stable across attempts: the `webhook-id` header, by which receivers drop duplicates. */
  id: string;
  topic: string;
  /** The event's time, ms. */
  at: number;
  data: unknown;
}

/**
 * The one place that knows the shape of the durable event log: a record becomes the event
 * delivered. Lifecycle events carry the run they are about beside their own data.
 */
export function toWebhookEvent(record: EventRecord): WebhookEvent {
  const own = record.data === null ? undefined : (JSON.parse(record.data) as unknown);
  return {
    id: String(record.eventId),
    topic: record.type,
    at: record.at,
    data: {
      runId: record.runId,
      workflow: record.workflow,
      status: record.status,
      ...(own !== undefined ? { data: own } : {}),
    },
  };
}

/** The JSON body POSTed, as the Standard Webhooks specification suggests: `{type, timestamp, data}`. */
export function webhookBody(event: WebhookEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.topic,
    timestamp: new Date(event.at).toISOString(),
    data: event.data,
  });
}
