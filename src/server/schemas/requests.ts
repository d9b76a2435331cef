import { z } from "zod";
import {
  MAX_TAGS,
  MAX_TAG_KEY_LENGTH,
  MAX_TAG_VALUE_LENGTH,
  RunStatus,
  TAG_KEY_RULE,
  isValidRunId,
} from "../../common/index.js";
import { documented } from "./registry.js";

/**
 * What requests may carry. Bodies are strict: an unknown key is refused rather than
 * ignored, so `{"inptu": …}` fails loudly instead of starting a run without input.
 * Query strings are lenient, as caches and proxies add parameters of their own.
 * Ranges repeat the engine's own checks so that the OpenAPI document states them; the
 * engine stays the authority. Bodies that default to `{}` may be left out entirely.
 */

/** Longest a server-side wait may last: `?wait=` on start. Longer waits loop or stream. */
export const MAX_START_WAIT_SECONDS = 300;
/** The engine's bounds for a worker's long poll and for a page of runs (docs/http-api.md). */
export const MAX_TASKS_PER_POLL = 100;
export const MAX_POLL_WAIT_SECONDS = 60;
export const MAX_LIST_LIMIT = 1000;

const RUN_ID_RULE = "1–200 characters of A–Z a–z 0–9 . _ - ~ :";

export const RunIdSchema = documented(z.string().refine(isValidRunId, `use ${RUN_ID_RULE}`), {
  description: `${RUN_ID_RULE}; URL-encode it in paths`,
  pattern: "^[A-Za-z0-9._~:-]{1,200}$",
});

const NameSchema = z.string().min(1).max(200);

export const RunParams = z.object({ runId: RunIdSchema });
export const WorkflowParams = z.object({ workflow: NameSchema });
export const SignalParams = z.object({ runId: RunIdSchema, name: NameSchema });
export const CompensationParams = z.object({
  runId: RunIdSchema,
  seq: documented(
    z.coerce.number().int().min(1),
    "the seq of the operation whose compensation failed (`waitingOn.compensates`)",
  ),
});
export const ServiceParams = z.object({ service: NameSchema });
export const TaskParams = z.object({
  taskId: documented(z.string().min(1).max(500), "the delivery's taskId, as the poll gave it"),
});

const TagKeySchema = z
  .string()
  .min(1)
  .max(MAX_TAG_KEY_LENGTH)
  .regex(/^[A-Za-z0-9._/-]+$/, `use ${TAG_KEY_RULE}`);

export const TagsSchema = documented(
  z
    .record(TagKeySchema, z.string().max(MAX_TAG_VALUE_LENGTH))
    .refine((tags) => Object.keys(tags).length <= MAX_TAGS, `at most ${MAX_TAGS} tags`),
  `tags to search the run by: at most ${MAX_TAGS}, keys ${TAG_KEY_RULE}, values strings of up to ${MAX_TAG_VALUE_LENGTH} characters`,
);

const TimeBound = z.iso.datetime({ offset: true, local: false });

export const StartRunBody = z
  .strictObject({
    input: documented(z.unknown(), "the workflow's input: any JSON").optional(),
    runId: documented(
      RunIdSchema.optional(),
      "your id for the run; an id that exists returns that run (idempotent start)",
    ),
    deadline: documented(
      z.number().int().min(1).optional(),
      "time limit in ms from now, overriding the workflow's own: when it passes, the run fails " +
        "with DEADLINE_EXCEEDED and rolls back",
    ),
    version: documented(
      z.number().int().min(1).optional(),
      "start this registered version of the workflow instead of the newest (404 VERSION_NOT_FOUND otherwise)",
    ),
    tags: TagsSchema.optional(),
  })
  .default({});

export const StartRunHeaders = z.looseObject({
  "idempotency-key": documented(
    RunIdSchema.optional(),
    `used as the runId when the body has none; ${RUN_ID_RULE}`,
  ),
  traceparent: documented(
    z.string().optional(),
    "W3C trace context of the caller: every span of the run joins its trace (ignored if invalid)",
  ),
});

export const StartRunQuery = z.object({
  wait: documented(
    z.coerce.number().min(0).max(MAX_START_WAIT_SECONDS).optional(),
    `seconds to wait for the run to end before answering (0–${MAX_START_WAIT_SECONDS}); ` +
      "the answer is the run as it is then",
  ),
});

export const ListRunsQuery = z.object({
  workflow: z.string().optional(),
  status: z.enum(RunStatus).optional(),
  runIdPrefix: documented(
    z.string().min(1).max(200).optional(),
    "only runs whose id starts with this",
  ),
  limit: documented(
    z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).optional(),
    `runs per page, 1–${MAX_LIST_LIMIT}, default 50`,
  ),
  cursor: documented(z.string().optional(), "the `nextCursor` of the previous page"),
  tag: documented(
    z
      .union([z.string(), z.array(z.string())])
      .transform((value) => (Array.isArray(value) ? value : [value]))
      .pipe(z.array(z.string().regex(/^[A-Za-z0-9._/-]{1,64}:/, "use key:value")).max(MAX_TAGS))
      .optional(),
    "only runs with this tag, as `key:value`; repeat for several (AND-ed)",
  ),
  createdAfter: documented(
    TimeBound.optional(),
    "only runs created at or after this ISO 8601 time",
  ),
  createdBefore: documented(TimeBound.optional(), "only runs created before this ISO 8601 time"),
});

export const SignalBody = z
  .strictObject({
    payload: documented(z.unknown(), "any JSON, handed to the waiting run").optional(),
  })
  .default({});

export const CancelBody = z
  .strictObject({
    reason: documented(z.string().max(1000), "recorded with the cancellation").optional(),
  })
  .default({});

/** Retry takes no parameters: an empty object, or no body at all. */
export const RetryBody = z.strictObject({}).default({});

/** Skipping a compensation takes no parameters either. */
export const SkipCompensationBody = z.strictObject({}).default({});

export const PollBody = z.strictObject({
  workerId: documented(
    z.string().min(1).max(200),
    "names the worker process, for the services view",
  ),
  max: documented(
    z.number().int().min(1).max(MAX_TASKS_PER_POLL).optional(),
    `most tasks to lease at once, 1–${MAX_TASKS_PER_POLL}, default 1`,
  ),
  waitSeconds: documented(
    z.number().min(0).max(MAX_POLL_WAIT_SECONDS).optional(),
    `long poll: how long to wait when no task is ready, 0–${MAX_POLL_WAIT_SECONDS}, default 0`,
  ),
});

export const CompleteTaskBody = z
  .strictObject({ output: documented(z.unknown(), "the command's output: any JSON").optional() })
  .default({});

export const FailTaskBody = z.strictObject({
  error: z.strictObject({
    message: z.string(),
    type: documented(z.string().max(200), "the worker's own error class, for operators").optional(),
    code: documented(
      z
        .string()
        .regex(/^[A-Z][A-Z0-9_]*$/)
        .max(100),
      "a SNAKE_CASE business code the workflow may branch on, e.g. OUT_OF_STOCK",
    ).optional(),
  }),
  retryable: documented(
    z.boolean(),
    "default true: the call's retry policy decides; false fails the call for good",
  ).optional(),
});

export const HeartbeatBody = z
  .strictObject({
    details: documented(z.unknown(), "progress, for the worker's own use").optional(),
  })
  .default({});

export const PublishBody = z.strictObject({
  topic: documented(
    z.string(),
    "dotted lowercase name such as `order.placed`; `run.*`, `step.*`, `compensation.*` and `baton.*` are Baton's own",
  ),
  data: documented(z.unknown(), "any JSON: the input of the runs it triggers").optional(),
  id: documented(
    z.string(),
    "the event's id, its idempotency key (1–99 of A–Z a–z 0–9 . _ - ~ :, not starting with ~); generated if absent",
  ).optional(),
});

export const EventsQuery = z.object({
  topic: documented(
    z.union([z.string(), z.array(z.string())]).optional(),
    "comma list (or repeated parameter) of topic patterns: dotted names where a segment may be `*` (`order.*`, `run.failed`); `*` alone (default) selects every event",
  ),
  workflow: documented(z.string().optional(), "only events of runs of this workflow"),
  runId: documented(z.string().optional(), "only events of this run"),
  after: documented(
    z.coerce.number().int().min(0).optional(),
    "resume the durable log after this event id (0: from the beginning); see Last-Event-ID",
  ),
});
