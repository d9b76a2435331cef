import { z } from "zod";
import { BatonError } from "../../common/index.js";
import type { ServerMetrics } from "../metrics.js";
import { HealthSchema, errorResponses } from "../schemas/wire.js";
import { Tag, type RouteContext, type ZodApp } from "./route-context.js";

/** A run id no run can have (runIds have no "/"): looking it up proves the store answers. */
const PROBE_RUN_ID = "/readyz";

/**
 * Liveness, readiness and metrics: open without the API token, for probes and scrapers.
 * Liveness says the process answers; readiness also asks the store, and says no while the
 * server or the engine is shutting down, so a load balancer stops sending work first.
 */
export function registerOperationRoutes(
  app: ZodApp,
  context: RouteContext,
  metrics: ServerMetrics,
): void {
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
      try {
        await context.engine.find(PROBE_RUN_ID);
      } catch (e) {
        throw new BatonError("UNAVAILABLE", "the store does not answer", { cause: e });
      }
      return { status: "ok" as const };
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
