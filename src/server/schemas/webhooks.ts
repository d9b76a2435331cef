import { z } from "zod";
import { documented } from "./registry.js";

export const SubscriptionParams = z.object({
  id: documented(z.string().min(1).max(200), "the subscription's id, as its creation gave it"),
});

/** Checked further by the webhooks module, which gives each mistake its own code. */
export const CreateSubscriptionBody = z
  .object({
    topics: documented(
      z.array(z.string()),
      "topic patterns: dotted lowercase names, `*` matching one whole segment (`run.failed`, `order.*`); at least one",
    ),
    url: documented(z.string(), "where events are POSTed: an absolute http or https URL"),
    secret: documented(
      z.string(),
      "a Standard Webhooks secret (`whsec_` + base64 of 24–64 bytes); one is generated if absent",
    ).optional(),
  })
  .strict();

export const DeliveriesQuery = z.object({
  limit: documented(
    z.coerce.number().int().min(1).max(1000).optional(),
    "most attempts to list, newest first (default 100)",
  ),
});

export const SubscriptionSchema = documented(
  z.object({
    id: z.string(),
    topics: z.array(z.string()),
    url: z.string(),
    createdAt: documented(z.string(), { format: "date-time" }),
  }),
  {
    id: "Subscription",
    description: "A webhook subscription (its secret is shown only on creation)",
  },
);

export const CreatedSubscriptionSchema = SubscriptionSchema.extend({
  secret: documented(z.string(), "signs every delivery; shown only now"),
});

export const DeliveryAttemptSchema = documented(
  z.object({
    eventId: documented(
      z.string(),
      "the event's id: the `webhook-id` header, the same on every attempt",
    ),
    attempt: z.number().int(),
    at: documented(z.string(), { format: "date-time" }),
    durationMs: z.number(),
    statusCode: documented(
      z.number().int().nullable(),
      "the receiver's HTTP status; null when none came",
    ),
    error: documented(z.string().nullable(), "why this attempt was not a delivery; null for a 2xx"),
    nextAttemptAt: documented(z.string().nullable(), {
      format: "date-time",
      description: "when the next attempt is due; null once delivered",
    }),
  }),
  { id: "DeliveryAttempt", description: "One attempt to deliver an event to a subscription" },
);
