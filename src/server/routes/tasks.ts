import { z } from "zod";
import {
  CompleteTaskBody,
  FailTaskBody,
  HeartbeatBody,
  PollBody,
  ServiceParams,
  TaskParams,
} from "../schemas/requests.js";
import { EmptySchema, TaskSchema, errorResponses } from "../schemas/wire.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

/**
 * The worker protocol (docs/workers.md): long poll for tasks, then complete, fail or heartbeat
 * each delivery by its taskId. A reply for a delivery whose lease was lost is 409 LEASE_LOST.
 */
export function registerTaskRoutes(app: ZodApp, context: RouteContext): void {
  const { engine } = context;

  app.post(
    "/v1/services/:service/tasks/poll",
    {
      schema: {
        tags: [Tag.Workers],
        summary: "Lease tasks of a queue-served service (long poll)",
        description:
          "Answers at once with the tasks that are ready, else when one becomes ready or after " +
          "`waitSeconds` with none. Each task is leased to the caller until `leaseExpiresAt`.",
        security: BEARER,
        params: ServiceParams,
        body: PollBody,
        response: {
          200: z.object({ tasks: z.array(TaskSchema) }),
          ...errorResponses(400, 401, 403, 404, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { workerId, max, waitSeconds } = request.body;
      // The wait ends early when the worker hangs up or the server shuts down; tasks leased
      // in that instant go to a worker that may be gone, and come back when the lease expires.
      const tasks = await engine.pollTasks(request.params.service, {
        workerId,
        ...(max !== undefined ? { max } : {}),
        ...(waitSeconds !== undefined ? { waitMs: Math.round(waitSeconds * 1000) } : {}),
        signal: context.lifecycle.requestSignal(reply),
      });
      return { tasks };
    },
  );

  app.post(
    "/v1/tasks/:taskId/complete",
    {
      schema: {
        tags: [Tag.Workers],
        summary: "Complete a task with its output",
        description: "Completing the same delivery twice is harmless.",
        security: BEARER,
        params: TaskParams,
        body: CompleteTaskBody,
        response: { 200: EmptySchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (request) => {
      await engine.completeTask(request.params.taskId, request.body.output);
      return {};
    },
  );

  app.post(
    "/v1/tasks/:taskId/fail",
    {
      schema: {
        tags: [Tag.Workers],
        summary: "Fail a task",
        description:
          "A retryable failure (the default) is retried by the call's retry policy; " +
          "`retryable: false` fails the call for good and the run compensates.",
        security: BEARER,
        params: TaskParams,
        body: FailTaskBody,
        response: { 200: EmptySchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (request) => {
      const { error, retryable } = request.body;
      await engine.failTask(
        request.params.taskId,
        {
          message: error.message,
          ...(error.type !== undefined ? { type: error.type } : {}),
          ...(error.code !== undefined ? { code: error.code } : {}),
        },
        retryable,
      );
      return {};
    },
  );

  app.post(
    "/v1/tasks/:taskId/heartbeat",
    {
      schema: {
        tags: [Tag.Workers],
        summary: "Extend a task's lease",
        description: "409 LEASE_LOST when the lease already expired: stop working on the task.",
        security: BEARER,
        params: TaskParams,
        body: HeartbeatBody,
        response: {
          200: z.object({ leaseExpiresAt: z.string() }),
          ...errorResponses(400, 401, 403, 404, 409, 413, 415),
        },
      },
    },
    (request) => engine.heartbeatTask(request.params.taskId),
  );
}
