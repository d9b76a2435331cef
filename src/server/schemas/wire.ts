import { z } from "zod";
import { EventType, RUN_STATUSES, RunStatus } from "../../common/index.js";
import { documented } from "./registry.js";

/**
 * The wire shapes the API answers with (docs/http-api.md), as zod schemas. They document the
 * API in /openapi.json and type the route handlers; answers are serialised with plain
 * JSON.stringify, not through these, so a field the engine adds reaches clients at once and
 * a schema that lags behind never turns a good answer into a 500. The named objects are
 * documented as open (`additionalProperties`): the contract fixes what a Run has at least.
 * test/server checks real answers against these schemas.
 */

/** Documents an object as open: the contract fixes what it has at least, and may add fields. */
const EXTENSIBLE = { additionalProperties: true };

const timestamp = documented(z.string(), { description: "ISO 8601, UTC", format: "date-time" });
const count = z.number().int().min(0);

export const RunStatusSchema = documented(z.enum(RunStatus), { id: "RunStatus" });

export const ErrorDataSchema = documented(
  z.object({
    code: documented(z.string(), "SNAKE_CASE error code, stable: branch on it"),
    message: documented(z.string(), "what happened, with the facts needed to act"),
    details: z.unknown().optional(),
  }),
  {
    ...EXTENSIBLE,
    id: "ErrorData",
    description: "An error as plain data: why a run or a request failed.",
  },
);

export const ErrorBodySchema = documented(z.object({ error: ErrorDataSchema }), {
  id: "ErrorBody",
  description: "Every error answer of the API has this shape.",
});

export const StepSchema = documented(
  z.object({
    seq: count,
    kind: z.enum([
      "step",
      "call",
      "sleep",
      "signal",
      "child",
      "now",
      "random",
      "uuid",
      "emit",
      "event",
      "patch",
    ]),
    name: z.string(),
    status: z.enum(["running", "waiting", "completed", "failed"]),
    attempts: count,
    startedAt: timestamp.optional(),
    endedAt: timestamp.optional(),
    output: z.unknown().optional(),
    error: ErrorDataSchema.optional(),
    compensates: documented(count, "set on a compensation: the seq it undoes").optional(),
  }),
  { ...EXTENSIBLE, id: "Step", description: "One operation of a run, by sequence number." },
);

export const WaitingOnSchema = documented(
  z.object({
    kind: z.enum([
      "timer",
      "signal",
      "task",
      "retry",
      "child",
      "lease",
      "operator",
      "event",
      "version",
    ]),
    reason: documented(z.string(), "what the run waits on, in words an operator can act on"),
    seq: count.optional(),
    until: documented(
      timestamp,
      "timer: when it fires; signal: its timeout; retry: the next attempt",
    ).optional(),
    signal: z.string().optional(),
    topic: documented(z.string(), "event: the topic waited for").optional(),
    where: documented(
      z.record(z.string(), z.unknown()),
      "event: the data fields the event must have",
    ).optional(),
    childRunId: z.string().optional(),
    step: z.string().optional(),
    attempt: count.optional(),
    lastError: ErrorDataSchema.optional(),
    service: z.string().optional(),
    queueDepth: count.optional(),
    workers: count.optional(),
    compensates: documented(
      count,
      "retry and operator waits of a rollback: the seq whose compensation failed",
    ).optional(),
    version: documented(
      z.number().int().min(1),
      "version: the workflow version that no node at hand has",
    ).optional(),
  }),
  {
    ...EXTENSIBLE,
    id: "WaitingOn",
    description: "What a run that is not terminal waits on, and why.",
  },
);

export const RunSchema = documented(
  z.object({
    runId: z.string(),
    workflow: z.string(),
    status: RunStatusSchema,
    input: z.unknown(),
    output: z.unknown().optional(),
    error: ErrorDataSchema.optional(),
    createdAt: timestamp,
    updatedAt: timestamp,
    steps: documented(z.array(StepSchema), "empty in list answers; get one run for its steps"),
    waitingOn: WaitingOnSchema.optional(),
    parentRunId: z.string().optional(),
    version: documented(
      z.number().int().min(1),
      "the workflow version the run executes: the one it started with",
    ),
    tags: documented(z.record(z.string(), z.string()).optional(), "the tags given on start"),
  }),
  { ...EXTENSIBLE, id: "Run", description: "One execution of a workflow." },
);

export type WorkflowSummary = z.infer<typeof WorkflowSummarySchema>;

export const RunPageSchema = z.object({
  runs: z.array(RunSchema),
  nextCursor: documented(z.string(), "pass as `cursor` for the next page").optional(),
});

export const HistoryEventSchema = documented(
  z.object({
    position: count,
    type: documented(z.string(), "journal entry type, e.g. call.completed"),
    seq: count.optional(),
    name: z.string().optional(),
    at: timestamp,
    data: z.unknown().optional(),
  }),
  { ...EXTENSIBLE, id: "HistoryEvent", description: "One journal entry of a run." },
);

export const WorkflowSummarySchema = documented(
  z.object({
    name: z.string(),
    registered: documented(z.boolean(), "false for a workflow known only from stored runs"),
    version: documented(
      z.number().int().min(1),
      "the version a new run takes: the newest registered (absent when not registered)",
    ).optional(),
    versions: documented(
      z.array(
        z.object({
          version: z.number().int().min(1),
          registered: documented(z.boolean(), "whether this node has the code of this version"),
          inFlight: documented(count, "runs of this version not yet terminal"),
          total: documented(count, "runs of this version in the store"),
        }),
      ),
      "every version registered or found in stored runs, lowest first",
    ),
    ...(Object.fromEntries(RUN_STATUSES.map((status) => [status, count])) as Record<
      RunStatus,
      typeof count
    >),
  }),
  {
    ...EXTENSIBLE,
    id: "WorkflowSummary",
    description: "A workflow with its number of runs in each status.",
  },
);

export const ServiceInfoSchema = documented(
  z.object({
    name: z.string(),
    transport: z.enum(["http", "queue", "local"]),
    queueDepth: documented(count, "commands waiting for a worker"),
    inFlight: documented(count, "commands a worker holds (queue) or calls in progress"),
    workers: documented(count, "workers that polled in the last 30 s"),
    completed: count,
    failures: count,
    latencyMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
    baseUrl: z.string().optional(),
    leaseMs: count.optional(),
  }),
  { ...EXTENSIBLE, id: "ServiceInfo", description: "A downstream service, as operators see it." },
);

export const TaskSchema = documented(
  z.object({
    taskId: documented(z.string(), "names this delivery; a redelivery gets a new one"),
    service: z.string(),
    command: z.string(),
    input: z.unknown(),
    runId: z.string(),
    workflow: z.string(),
    idempotencyKey: documented(z.string(), "`{runId}:{seq}`, the same on every delivery"),
    attempt: documented(count, "1 on the first delivery"),
    leaseExpiresAt: timestamp,
    traceparent: documented(z.string(), "W3C trace context of the run's call"),
  }),
  { ...EXTENSIBLE, id: "Task", description: "One delivery of a queued command to a worker." },
);

export const BatonEventSchema = documented(
  z.object({
    id: documented(
      count,
      "position in the durable event log (user events, run ends, compensation failures)",
    ).optional(),
    type: documented(
      z.string(),
      `the topic: one of Baton's own (${Object.values(EventType).join(", ")}) or a user's`,
    ),
    eventId: documented(
      z.string(),
      "user events: the id it was published with; Baton's durable ones: `~{id}`",
    ).optional(),
    user: documented(z.boolean(), "true on events a user published").optional(),
    runId: documented(z.string(), "the run it is about, or that emitted it").optional(),
    workflow: z.string().optional(),
    status: RunStatusSchema.optional(),
    at: timestamp,
    data: z.unknown().optional(),
  }),
  {
    ...EXTENSIBLE,
    id: "BatonEvent",
    description: "A fact about a run, for consumers beside the orchestration.",
  },
);

/** The answer of a publish that wrote the event. */
export const PublishedSchema = z.object({
  id: documented(z.string(), "the event's id (the one given, or a generated one)"),
});

/** The answer of 202s: the request is durable; the run acts on it in its own time. */
export const AcceptedSchema = z.object({ runId: z.string() });

/** The answer of task replies: nothing to say beyond the status. */
export const EmptySchema = z.object({});

export const HealthSchema = z.object({
  status: z.literal("ok"),
  /** Said by /readyz: what an operator must know, e.g. `no auth` (an open server). */
  warnings: z.array(z.string()).optional(),
});

/** Error answers, for the OpenAPI document: `errorResponses(400, 404)`. */
export function errorResponses<const S extends readonly number[]>(
  ...statuses: S
): Record<S[number], typeof ErrorBodySchema> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorBodySchema])) as Record<
    S[number],
    typeof ErrorBodySchema
  >;
}
