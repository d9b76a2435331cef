import { z } from "zod";
import { BatonError } from "../../common/index.js";
import type { AttemptRecord } from "../../store/index.js";
import type { Subscription, Webhooks } from "../../webhooks/index.js";
import { errorResponses } from "../schemas/wire.js";
import {
  CreateSubscriptionBody,
  CreatedSubscriptionSchema,
  DeliveriesQuery,
  DeliveryAttemptSchema,
  SubscriptionParams,
  SubscriptionSchema,
} from "../schemas/webhooks.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

/** Webhook subscriptions (docs/webhooks.md): made, listed, removed, and their delivery attempts. */
export function registerSubscriptionRoutes(app: ZodApp, context: RouteContext): void {
  const webhooks = (): Webhooks => {
    if (!context.webhooks) {
      throw new BatonError("UNAVAILABLE", "this server was started without webhook deliveries");
    }
    return context.webhooks;
  };

  app.post(
    "/v1/subscriptions",
    {
      schema: {
        tags: [Tag.Webhooks],
        summary: "Subscribe a URL to events",
        description:
          "Every event committed from now on whose topic matches one of `topics` is POSTed to `url`, signed as the Standard Webhooks specification says, and retried with backoff until a 2xx. The answer holds the secret; no later read shows it.",
        security: BEARER,
        body: CreateSubscriptionBody,
        response: { 201: CreatedSubscriptionSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { topics, url, secret } = request.body;
      const created = await webhooks().create({
        topics,
        url,
        ...(secret !== undefined ? { secret } : {}),
      });
      return reply.code(201).send({ ...wire(created), secret: created.secret });
    },
  );

  app.get(
    "/v1/subscriptions",
    {
      schema: {
        tags: [Tag.Webhooks],
        summary: "Every webhook subscription, oldest first",
        security: BEARER,
        response: {
          200: z.object({ subscriptions: z.array(SubscriptionSchema) }),
          ...errorResponses(401, 403),
        },
      },
    },
    async () => ({ subscriptions: (await webhooks().list()).map(wire) }),
  );

  app.get(
    "/v1/subscriptions/:id",
    {
      schema: {
        tags: [Tag.Webhooks],
        summary: "A webhook subscription",
        security: BEARER,
        params: SubscriptionParams,
        response: { 200: SubscriptionSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => wire(await webhooks().get(request.params.id)),
  );

  app.delete(
    "/v1/subscriptions/:id",
    {
      schema: {
        tags: [Tag.Webhooks],
        summary: "Remove a webhook subscription",
        description:
          "Its pending deliveries stop and its attempts are forgotten. An attempt already under way may still arrive.",
        security: BEARER,
        params: SubscriptionParams,
        response: { 204: z.null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await webhooks().delete(request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/subscriptions/:id/deliveries",
    {
      schema: {
        tags: [Tag.Webhooks],
        summary: "A subscription's delivery attempts, newest first",
        security: BEARER,
        params: SubscriptionParams,
        querystring: DeliveriesQuery,
        response: {
          200: z.object({ deliveries: z.array(DeliveryAttemptSchema) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => ({
      deliveries: (await webhooks().deliveries(request.params.id, request.query.limit)).map(
        attemptWire,
      ),
    }),
  );
}

function wire(subscription: Subscription): z.infer<typeof SubscriptionSchema> {
  return { ...subscription, createdAt: new Date(subscription.createdAt).toISOString() };
}

function attemptWire(attempt: AttemptRecord): z.infer<typeof DeliveryAttemptSchema> {
  return {
    eventId: attempt.eventKey,
    attempt: attempt.attempt,
    at: new Date(attempt.at).toISOString(),
    durationMs: attempt.durationMs,
    statusCode: attempt.statusCode,
    error: attempt.error,
    nextAttemptAt:
      attempt.nextAttemptAt === null ? null : new Date(attempt.nextAttemptAt).toISOString(),
  };
}
