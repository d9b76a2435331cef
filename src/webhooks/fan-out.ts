import type { NewDelivery, SubscriptionRecord } from "../store/index.js";
import { topicMatcher } from "./topics.js";
import { webhookBody, type WebhookEvent } from "./webhook-event.js";

/** An event at its position in the log. */
export interface LoggedEvent {
  position: number;
  event: WebhookEvent;
}

/**
 * The deliveries a page of the log makes: one per event and subscription whose patterns match
 * its topic, for subscriptions made before the event was committed (`afterEventId` below it).
 */
export function planDeliveries(
  events: readonly LoggedEvent[],
  subscriptions: readonly SubscriptionRecord[],
  now: number,
): NewDelivery[] {
  const matchers = subscriptions.map((s) => ({ subscription: s, matches: topicMatcher(s.topics) }));
  return events.flatMap(({ position, event }) =>
    matchers
      .filter(({ subscription: s, matches }) => s.afterEventId < position && matches(event.topic))
      .map(({ subscription }) => subscription)
      .map((s) => ({
        subscriptionId: s.subscriptionId,
        eventId: position,
        eventKey: event.id,
        topic: event.topic,
        payload: webhookBody(event),
        createdAt: now,
      })),
  );
}

/** Where a subscriber-less stretch of the log may be skipped to: no subscription wants what is before. */
export function readFrom(cursor: number, subscriptions: readonly SubscriptionRecord[]): number {
  const earliest = Math.min(...subscriptions.map((s) => s.afterEventId));
  return Math.max(cursor, earliest);
}
