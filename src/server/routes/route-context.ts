import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Engine } from "../../engine/index.js";
import type { Webhooks } from "../../webhooks/index.js";
import type { EventHub } from "../event-hub.js";
import type { ServerLifecycle } from "../lifecycle.js";
import type { SseOptions } from "../sse.js";

/** The fastify instance routes are declared on: request and answer types come from zod. */
export type ZodApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What route handlers work with. */
export interface RouteContext {
  engine: Engine;
  hub: EventHub;
  lifecycle: ServerLifecycle;
  sse: SseOptions;
  /** How often a followed run is read again without an event (see run-follower.ts). */
  runRefreshMs: number;
  /** What an operator must know about how this server runs, on /readyz: `no auth`. */
  warnings: readonly string[];
  /** Webhook subscriptions, when the server was given them (Baton.serve always does). */
  webhooks: Webhooks | undefined;
}

/** OpenAPI tags, one per area of the API. */
export const Tag = {
  Runs: "runs",
  Workflows: "workflows",
  Workers: "workers",
  Services: "services",
  Events: "events",
  Schedules: "schedules",
  Webhooks: "webhooks",
  Operations: "operations",
} as const;

/** Routes under /v1 need the bearer token when the server has one (see auth.ts). */
export const BEARER = [{ bearerAuth: [] }];
