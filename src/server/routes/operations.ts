import { z } from "zod";
import { BatonError } from "../../common/index.js";
import type { ServerMetrics } from "../metrics.js";
import { StoreReadiness } from "../readiness.js";
import { HealthSchema, errorResponses } from "../schemas/wire.js";
import { Tag, type RouteContext, type ZodApp } from "./route-context.js";

/** A run id no run can have (runIds have no "/"): looking it up proves the store answers. */
const PROBE_RUN_ID = "/readyz";

/**
 * Liveness, readiness and metrics: open without the API token, for probes and scrapers.
 * Liveness says the process answers; readiness also asks the store (503 STORE_UNAVAILABLE
 * while it cannot be reached), and says no while the server or the engine is shutting down,
 * so a load balancer stops sending work first. Its body lists `warnings` an operator must
 * see, such as `no auth`.
 */
export function registerOperationRoutes(
  app: ZodApp,
  context: RouteContext,
  metrics: ServerMetrics,
): void {
  const readiness = new StoreReadiness(() => context.engine.find(PROBE_RUN_ID), {
    cacheMs: 1_000,
    timeoutMs: 2_000,
  });
  app.get(
    "/healthz",
    {
      schema: {
        tags: [Tag.Operations],
        summary: "Liveness: the process answers",
        response: { 200: HealthSchema },
      },
    },
    () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        tags: [Tag.Operations],
        summary: "Readiness: the engine is open and its store answers",
        response: { 200: HealthSchema, ...errorResponses(503) },
      },
    },
    async () => {
      if (context.lifecycle.isClosing || context.engine.isClosed) {
        throw new BatonError("UNAVAILABLE", "the server is shutting down");
      }
      const failure = await readiness.check();
      if (failure) throw failure;
      return context.warnings.length > 0
        ? { status: "ok" as const, warnings: [...context.warnings] }
        : { status: "ok" as const };
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        tags: [Tag.Operations],
        summary: "Prometheus metrics (text exposition format)",
        response: {
          200: {
            description: "Prometheus text format",
            content: { "text/plain": { schema: z.string() } },
          },
        },
      },
    },
    async (_request, reply) => {
      const text = await metrics.render();
      return reply.type(metrics.contentType).send(text);
    },
  );
}
