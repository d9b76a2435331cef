import { z } from "zod";
import { RUN_STATUSES, isTerminal, type Run, type RunStatus } from "../../common/index.js";
import { abortAfter } from "../lifecycle.js";
import { runAnswer } from "../run-answer.js";
import { followRun } from "../run-follower.js";
import {
  StartRunBody,
  StartRunHeaders,
  StartRunQuery,
  WorkflowParams,
} from "../schemas/requests.js";
import {
  RunSchema,
  WorkflowSummarySchema,
  errorResponses,
  type WorkflowSummary,
} from "../schemas/wire.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

/** GET /v1/workflows and POST /v1/workflows/{workflow}/runs. */
export function registerWorkflowRoutes(app: ZodApp, context: RouteContext): void {
  const { engine } = context;

  app.get(
    "/v1/workflows",
    {
      schema: {
        tags: [Tag.Workflows],
        summary: "Every workflow, with its number of runs in each status",
        security: BEARER,
        response: {
          200: z.object({ workflows: z.array(WorkflowSummarySchema) }),
          ...errorResponses(401, 403),
        },
      },
    },
    async () => ({ workflows: (await engine.workflowCounts()).map(toWorkflowSummary) }),
  );

  app.post(
    "/v1/workflows/:workflow/runs",
    {
      schema: {
        tags: [Tag.Workflows, Tag.Runs],
        summary: "Start a run (idempotent by runId)",
        description:
          "201 with the new run, or 200 with the existing run when the runId is already taken by " +
          "a run of this workflow. The runId comes from the body, else from the Idempotency-Key " +
          "header, else it is generated. With `?wait=SECONDS` the answer comes when the run is " +
          "terminal or when the wait ends, whichever is first, and carries the run as it is then. " +
          "`deadline` (ms) limits the run: when it passes, the run fails with DEADLINE_EXCEEDED " +
          "and rolls back; an existing run keeps the deadline it started with. `tags` (string keys and " +
          "values, at most 16) are returned on the run and searched with `GET /v1/runs?tag=key:value`.",
        security: BEARER,
        params: WorkflowParams,
        querystring: StartRunQuery,
        headers: StartRunHeaders,
        body: StartRunBody,
        response: {
          200: RunSchema,
          201: RunSchema,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const runId = request.body.runId ?? request.headers["idempotency-key"];
      const { deadline, version, tags } = request.body;
      const { traceparent } = request.headers;
      const { created, ...started } = await engine.start(
        request.params.workflow,
        request.body.input,
        {
          ...(runId !== undefined ? { runId } : {}),
          ...(deadline !== undefined ? { deadline } : {}),
          ...(version !== undefined ? { version } : {}),
          ...(tags !== undefined ? { tags } : {}),
          ...(traceparent !== undefined ? { traceparent } : {}),
        },
      );
      let run: Run = started;
      const waitSeconds = request.query.wait;
      if (waitSeconds !== undefined && waitSeconds > 0 && !isTerminal(run.status)) {
        const wait = abortAfter(waitSeconds * 1000, context.lifecycle.requestSignal(reply));
        try {
          const followed = await followRun(engine, context.hub, run.runId, {
            signal: wait.signal,
            refreshMs: context.runRefreshMs,
          });
          // The wait ended first: answer with the run as it is now, not as last read.
          run = followed && isTerminal(followed.status) ? followed : await engine.get(run.runId);
        } finally {
          wait.clear();
        }
      }
      return reply.code(created ? 201 : 200).send(runAnswer(run));
    },
  );
}

/** The engine's counts, with every status present as a number (0 when it has no runs). */
function toWorkflowSummary(
  row: { name: string; registered: boolean; versions: WorkflowSummary["versions"] } & Record<
    string,
    unknown
  >,
): WorkflowSummary {
  const counts = Object.fromEntries(
    RUN_STATUSES.map((status) => [status, typeof row[status] === "number" ? row[status] : 0]),
  ) as Record<RunStatus, number>;
  return { ...row, ...counts };
}
