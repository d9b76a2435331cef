import { ValidationError, assertUserTopic } from "../common/index.js";
import type { TransportSpec } from "../transport/index.js";
import {
  toScheduleSpec,
  type ScheduleDefinition,
  type ScheduleOptions,
} from "./schedules/schedule-spec.js";
import { parseRetention } from "./retention.js";
import type {
  ServiceDefinition,
  WorkflowDefinition,
  WorkflowFunction,
  WorkflowOptions,
} from "./context.js";
import { invalidLimit } from "./core/limits.js";

export { CompensationFailurePolicy } from "./core/run-core.js";
export type { ScheduleDefinition, ScheduleOptions } from "./schedules/schedule-spec.js";
export type {
  AnyWorkflow,
  InputSchema,
  ServiceDefinition,
  WorkflowDefinition,
  WorkflowFunction,
  WorkflowOptions,
} from "./context.js";

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,99}$/;

function assertName(what: string, name: unknown): string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      `${what} name ${JSON.stringify(name)} is invalid: start with a letter, then up to 99 of A–Z a–z 0–9 . _ -`,
    );
  }
  return name;
}

/**
 * Defines a workflow: an ordinary async function whose ctx operations are journaled.
 *
 * @example
 * const greet = workflow("greet", async (ctx, input: { name: string }) => {
 *   await ctx.sleep(1000);
 *   return `hello ${input.name}`;
 * }, { input: z.object({ name: z.string() }) });
 */
export function workflow<I, O>(
  name: string,
  fn: WorkflowFunction<I, O>,
  options: WorkflowOptions<I> = {},
): WorkflowDefinition<I, O> {
  if (typeof fn !== "function") {
    throw new ValidationError(
      "INVALID_DEFINITION",
      `workflow ${name}: the second argument must be an async function`,
    );
  }
  const checkedName = assertName("workflow", name);
  const version = options.version ?? 1;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      `workflow ${checkedName}: version must be a positive integer, got ${JSON.stringify(version)}`,
    );
  }
  for (const topic of triggerTopics(options)) {
    try {
      assertUserTopic(topic);
    } catch (e) {
      throw new ValidationError(
        "INVALID_DEFINITION",
        `workflow ${checkedName}: on ${JSON.stringify(topic)}: ${(e as Error).message}`,
      );
    }
  }
  if (options.runId !== undefined && typeof options.runId !== "function") {
    throw new ValidationError(
      "INVALID_DEFINITION",
      `workflow ${checkedName}: runId must be a function (event) => string`,
    );
  }
  for (const [key, value] of Object.entries(options.limits ?? {})) {
    const problem = invalidLimit(key, value);
    if (problem)
      throw new ValidationError("INVALID_DEFINITION", `workflow ${checkedName}: ${problem}`);
  }
  if (options.retention !== undefined) parseRetention(checkedName, options.retention);
  return Object.freeze({ kind: "workflow", name: checkedName, version, fn, options });
}

/**
 * Names a downstream service and how it is reached.
 *
 * @example
 * const inventory = service("inventory", local({ reserve: async (input) => ({ ok: true }) }));
 */
export function service(name: string, transport: TransportSpec): ServiceDefinition {
  return Object.freeze({ kind: "service", name: assertName("service", name), transport });
}

/**
 * Starts a run of a workflow at each tick of a cron expression, with run id
 * `{name}:{tick as ISO 8601 UTC}` — once per tick across restarts and nodes (docs/schedules.md).
 * Export it beside your workflows; `Baton.open({ schedules })` or `baton server --workflows`
 * declares it at start (the code's spec wins; a paused schedule stays paused).
 *
 * @example
 * export const nightly = schedule("nightly", {
 *   cron: "0 3 * * *", timezone: "Europe/Berlin", workflow: report, input: { full: true },
 * });
 */
export function schedule<I>(name: string, options: ScheduleOptions<I>): ScheduleDefinition {
  assertName("schedule", name);
  if (typeof options !== "object" || options === null) {
    throw new ValidationError("INVALID_DEFINITION", `schedule ${name}: options are missing`);
  }
  // A bad cron, time zone or policy is refused here, as the module loads (wall time only serves
  // the "never fires" check); whether the workflow exists is checked when Baton opens.
  toScheduleSpec(name, options as ScheduleOptions, "code", Date.now());
  return Object.freeze({ kind: "schedule", name, options: options as ScheduleOptions });
}

export function isScheduleDefinition(value: unknown): value is ScheduleDefinition {
  return (
    typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "schedule"
  );
}

/** The topics a workflow's trigger listens to (none without `on`). */
export function triggerTopics(options: { on?: string | readonly string[] }): readonly string[] {
  const on = options.on;
  return on === undefined ? [] : typeof on === "string" ? [on] : on;
}

export function isWorkflowDefinition(value: unknown): value is WorkflowDefinition {
  return (
    typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "workflow"
  );
}

export function isServiceDefinition(value: unknown): value is ServiceDefinition {
  return (
    typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "service"
  );
}

/**
 * The newest version of each workflow, by name. Several versions of one name are fine; two
 * definitions of one name and version are a mistake found before anything runs.
 */
export function indexWorkflows(
  definitions: readonly WorkflowDefinition[],
): Map<string, WorkflowDefinition> {
  const byName = new Map<string, WorkflowDefinition>();
  const seen = new Set<string>();
  for (const definition of definitions) {
    const key = `${definition.name}@${definition.version}`;
    if (seen.has(key)) {
      throw new ValidationError(
        "DUPLICATE_WORKFLOW",
        `two workflows are named ${definition.name} at version ${definition.version}`,
        { workflow: definition.name, version: definition.version },
      );
    }
    seen.add(key);
    const newest = byName.get(definition.name);
    if (!newest || newest.version < definition.version) byName.set(definition.name, definition);
  }
  return byName;
}
