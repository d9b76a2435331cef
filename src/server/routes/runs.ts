import { z } from "zod";
import { runAnswer } from "../run-answer.js";
import { followRun } from "../run-follower.js";
import {
  CancelBody,
  CompensationParams,
  ListRunsQuery,
  RetryBody,
  RunParams,
  SignalBody,
  SignalParams,
  SkipCompensationBody,
} from "../schemas/requests.js";
import {
  AcceptedSchema,
  HistoryEventSchema,
  RunPageSchema,
  RunSchema,
  errorResponses,
} from "../schemas/wire.js";
import { SseStream } from "../sse.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

/** Reading runs, following one, and the requests a run can take. */
export function registerRunRoutes(app: ZodApp, context: RouteContext): void {
  const { engine } = context;

  app.get(
    "/v1/runs",
    {
      schema: {
        tags: [Tag.Runs],
        summary: "List runs, newest first",
        description:
          "Filters combine (AND). `tag=key:value`, repeatable, keeps runs with every tag given; " +
          "`createdAfter` (inclusive) and `createdBefore` (exclusive) bound the creation time. " +
          "Runs in a list have no steps; get one run for those. Page with `cursor`.",
        security: BEARER,
        querystring: ListRunsQuery,
        response: { 200: RunPageSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { workflow, status, runIdPrefix, limit, cursor, tag, createdAfter, createdBefore } =
        request.query;
      const page = await engine.list({
        ...(workflow !== undefined ? { workflow } : {}),
        ...(status !== undefined ? { status } : {}),
        ...(runIdPrefix !== undefined ? { runIdPrefix } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
        ...(tag !== undefined ? { tags: tag } : {}),
        ...(createdAfter !== undefined ? { createdAfter } : {}),
        ...(createdBefore !== undefined ? { createdBefore } : {}),
      });
      return { ...page, runs: page.runs.map(runAnswer) };
    },
  );

  app.get(
    "/v1/runs/:runId",
    {
      schema: {
        tags: [Tag.Runs],
        summary: "A run, with its steps and what it waits on",
        security: BEARER,
        params: RunParams,
        response: { 200: RunSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => runAnswer(await engine.get(request.params.runId)),
  );

  app.get(
    "/v1/runs/:runId/history",
    {
      schema: {
        tags: [Tag.Runs],
        summary: "The run's journal, oldest first",
        security: BEARER,
        params: RunParams,
        response: {
          200: z.object({ events: z.array(HistoryEventSchema) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => ({ events: await engine.history(request.params.runId) }),
  );

  app.get(
    "/v1/runs/:runId/stream",
    {
      // A HEAD request would open a stream that never sends a body.
      exposeHeadRoute: false,
      schema: {
        tags: [Tag.Runs],
        summary: "Follow a run (Server-Sent Events)",
        description:
          "Sends `event: run` with the Run as `data` at once, then once per change of the run; " +
          "ends after the run's terminal state. Comment lines (`: ping`) keep the stream alive.",
        security: BEARER,
        params: RunParams,
        response: {
          200: {
            description: "a stream of `run` events whose data is the Run",
            content: { "text/event-stream": { schema: RunSchema } },
          },
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const { runId } = request.params;
      // An unknown run is a 404 answer, not an empty stream.
      await engine.get(runId);
      const stream = new SseStream(reply, context.lifecycle.requestSignal(reply), context.sse);
      const stop = new AbortController();
      stream.onEnd(() => stop.abort());
      try {
        await followRun(engine, context.hub, runId, {
          signal: stop.signal,
          refreshMs: context.runRefreshMs,
          onChange: (run) => stream.send("run", runAnswer(run)),
        });
      } catch (e) {
        // The stream is open: there is no status left to answer with. Log and end it.
        request.log.error({ err: e, runId }, "run stream failed");
      } finally {
        stream.end();
      }
    },
  );

  app.post(
    "/v1/runs/:runId/signals/:name",
    {
      schema: {
        tags: [Tag.Runs],
        summary: "Send a signal to a run",
        description:
          "202 once the signal is durable; a signal sent before the run waits for it is kept.",
        security: BEARER,
        params: SignalParams,
        body: SignalBody,
        response: { 202: AcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const { runId, name } = request.params;
      await engine.signal(runId, name, request.body.payload);
      return reply.code(202).send({ runId });
    },
  );

  app.post(
    "/v1/runs/:runId/cancel",
    {
      schema: {
        tags: [Tag.Runs],
        summary: "Cancel a run",
        description: "202 once the request is durable; the run compensates, then ends `cancelled`.",
        security: BEARER,
        params: RunParams,
        body: CancelBody,
        response: { 202: AcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const { runId } = request.params;
      await engine.cancel(runId, request.body.reason);
      return reply.code(202).send({ runId });
    },
  );

  app.post(
    "/v1/runs/:runId/retry",
    {
      schema: {
        tags: [Tag.Runs],
        summary: "Retry a failed run, or its failed compensation",
        description:
          "202 once the request is durable. A `failed` run resumes where it stopped; completed " +
          "steps are not run again. A `compensating` run whose compensation failed and waits " +
          "(`waitingOn.kind` `operator`, or `retry` with `compensates`) runs that compensation " +
          "again at once. Any other run: 409 RUN_NOT_FAILED.",
        security: BEARER,
        params: RunParams,
        body: RetryBody,
        response: { 202: AcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const { runId } = request.params;
      await engine.retry(runId);
      return reply.code(202).send({ runId });
    },
  );

  app.post(
    "/v1/runs/:runId/compensations/:seq/skip",
    {
      schema: {
        tags: [Tag.Runs],
        summary: "Skip a failed compensation",
        description:
          "For a rollback whose compensation of operation `seq` failed and waits " +
          "(`waitingOn.kind` `operator`, or `retry`, with `compensates` = seq): 202 once the " +
          "skip is durable. The compensation is recorded as skipped and the rollback goes on " +
          "with the others; the run then ends `failed` with PARTIALLY_COMPENSATED, and " +
          "`error.details.skipped` lists what was not undone. 409 NO_FAILED_COMPENSATION when " +
          "no compensation of that seq waits, 409 RUN_TERMINAL when the run has ended.",
        security: BEARER,
        params: CompensationParams,
        body: SkipCompensationBody,
        response: { 202: AcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const { runId, seq } = request.params;
      await engine.skipCompensation(runId, seq);
      return reply.code(202).send({ runId });
    },
  );
}
