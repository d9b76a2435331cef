import { lifecycleEventId } from "../common/index.js";
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
 * delivered. A user event carries what was published, under its own id; one of Baton's own
 * (run.completed…) carries the run it is about, under the id the event stream gives it (`~N`).
 */
export function toWebhookEvent(record: EventRecord): WebhookEvent {
  const own = record.data === null ? undefined : (JSON.parse(record.data) as unknown);
  const isUser = record.user ?? record.eventId !== undefined;
  return {
    id: record.eventId ?? lifecycleEventId(record.position!),
    topic: record.type,
    at: record.at,
    data: isUser
      ? own
      : {
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
