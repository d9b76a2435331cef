import { z } from "zod";
import { ServiceInfoSchema, errorResponses } from "../schemas/wire.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

/** GET /v1/services: each service with its transport, queue depth, workers and outcomes. */
export function registerServiceRoutes(app: ZodApp, context: RouteContext): void {
  app.get(
    "/v1/services",
    {
      schema: {
        tags: [Tag.Services],
        summary: "Every service, with its queue depth, workers and recent outcomes",
        security: BEARER,
        response: {
          200: z.object({ services: z.array(ServiceInfoSchema) }),
          ...errorResponses(401, 403),
        },
      },
    },
    async () => ({ services: await context.engine.services() }),
  );
}
