import { z } from "zod";
import type { ScheduleCatchup, ScheduleOverlap } from "../../common/index.js";
import {
  SaveScheduleBody,
  ScheduleParams,
  ScheduleSchema,
  TriggeredSchema,
} from "../schemas/schedules.js";
import { EmptySchema, errorResponses } from "../schemas/wire.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

/** /v1/schedules: create or replace, list, get, pause, resume, trigger, delete (docs/schedules.md). */
export function registerScheduleRoutes(app: ZodApp, context: RouteContext): void {
  const { schedules } = context.engine;
  const NameOnly = { params: ScheduleParams, security: BEARER, tags: [Tag.Schedules] };

  app.post(
    "/v1/schedules",
    {
      schema: {
        tags: [Tag.Schedules],
        summary: "Create a schedule, or replace the one of that name",
        description:
          "201 with the new schedule, 200 when one of that name existed: its spec is replaced, its " +
          "paused state kept, its next tick recomputed only if the cron or time zone changed. A bad " +
          "cron expression is 400 INVALID_CRON, a bad time zone INVALID_TIMEZONE, a workflow the " +
          "server does not know UNKNOWN_WORKFLOW, a bad name or policy INVALID_SCHEDULE; an input the " +
          "workflow's schema refuses is 422 INPUT_INVALID.",
        security: BEARER,
        body: SaveScheduleBody,
        response: {
          200: ScheduleSchema,
          201: ScheduleSchema,
          ...errorResponses(400, 401, 403, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { name, timezone, input, overlap, catchup, ...rest } = request.body;
      const { created, schedule } = await schedules.save(name, {
        ...rest,
        ...(timezone !== undefined ? { timezone } : {}),
        ...(input !== undefined ? { input } : {}),
        ...(overlap !== undefined ? { overlap: overlap as ScheduleOverlap } : {}),
        ...(catchup !== undefined ? { catchup: catchup as ScheduleCatchup } : {}),
      });
      return reply.code(created ? 201 : 200).send(schedule);
    },
  );

  app.get(
    "/v1/schedules",
    {
      schema: {
        tags: [Tag.Schedules],
        summary: "Every schedule, with its next fire times and last runs",
        security: BEARER,
        response: {
          200: z.object({ schedules: z.array(ScheduleSchema) }),
          ...errorResponses(401, 403),
        },
      },
    },
    async () => ({ schedules: await schedules.list() }),
  );

  app.get(
    "/v1/schedules/:name",
    {
      schema: {
        ...NameOnly,
        summary: "One schedule",
        response: { 200: ScheduleSchema, ...errorResponses(401, 403, 404) },
      },
    },
    (request) => schedules.get(request.params.name),
  );

  app.post(
    "/v1/schedules/:name/pause",
    {
      schema: {
        ...NameOnly,
        summary: "Pause a schedule: its ticks start no run until it is resumed",
        response: { 200: ScheduleSchema, ...errorResponses(401, 403, 404, 415) },
      },
    },
    (request) => schedules.pause(request.params.name),
  );

  app.post(
    "/v1/schedules/:name/resume",
    {
      schema: {
        ...NameOnly,
        summary: "Resume a schedule from its next tick (ticks that fell while paused do not fire)",
        response: { 200: ScheduleSchema, ...errorResponses(401, 403, 404, 415) },
      },
    },
    (request) => schedules.resume(request.params.name),
  );

  app.post(
    "/v1/schedules/:name/trigger",
    {
      schema: {
        ...NameOnly,
        summary: "Start a run of the schedule now, paused or not",
        description:
          "The run id is `{schedule}:manual:{now as ISO 8601 UTC}`; the overlap policy does not apply.",
        response: { 201: TriggeredSchema, ...errorResponses(400, 401, 403, 404, 415, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await schedules.trigger(request.params.name)),
  );

  app.delete(
    "/v1/schedules/:name",
    {
      schema: {
        ...NameOnly,
        summary: "Delete a schedule (its runs stay)",
        description: "A schedule declared in code comes back when a node starts with that code.",
        response: { 200: EmptySchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      await schedules.delete(request.params.name);
      return {};
    },
  );
}
