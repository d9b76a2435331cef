import { ValidationError } from "../common/index.js";
import type { TransportSpec } from "../transport/index.js";
import type { WorkflowContext } from "./context.js";
import type { RetryPolicy } from "./retry.js";

/** The part of a zod schema the engine uses, so zod stays the user's choice of version. */
export interface InputSchema<T> {
  safeParse(
    input: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: unknown } };
}

export interface WorkflowOptions<I> {
  /** Input that fails this schema is refused with `INPUT_INVALID` before a run exists. */
  input?: InputSchema<I>;
  /** Default retry policy of the workflow's steps and calls. */
  retry?: RetryPolicy;
  /** Default per-attempt timeout (ms) of the workflow's steps and calls. */
  timeout?: number;
  /**
   * What a rollback does when a compensation fails for good (docs/workflows.md): `terminate` (default)
   * stops and ends the run `failed`; `retry` keeps retrying it; `skip` records it and goes on;
   * `event` publishes `compensation.failed` and waits for an operator. A compensation's own
   * `onCompensationFailure` overrides this.
   */
  onCompensationFailure?: CompensationFailurePolicy;
  /**
   * Time limit of a run in ms from its creation: past it the run fails with `DEADLINE_EXCEEDED`
   * and rolls back (compensations are not bound by it). `start(..., { deadline })` overrides it.
   */
  deadline?: number;
}

/** What a rollback does when a compensation fails for good. */
export const CompensationFailurePolicy = {
  Terminate: "terminate",
  Retry: "retry",
  Skip: "skip",
  Event: "event",
} as const;
export type CompensationFailurePolicy =
  (typeof CompensationFailurePolicy)[keyof typeof CompensationFailurePolicy];

export type WorkflowFunction<I, O> = (ctx: WorkflowContext, input: I) => Promise<O>;

export interface WorkflowDefinition<I = unknown, O = unknown> {
  readonly kind: "workflow";
  readonly name: string;
  readonly fn: WorkflowFunction<I, O>;
  readonly options: WorkflowOptions<I>;
}

/** Any workflow, whatever its input and output types (input types make definitions invariant). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyWorkflow = WorkflowDefinition<any, any>;

export interface ServiceDefinition {
  readonly kind: "service";
  readonly name: string;
  readonly transport: TransportSpec;
}

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
  return Object.freeze({ kind: "workflow", name: assertName("workflow", name), fn, options });
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

/** Workflows by name; two with one name is a mistake found before anything runs. */
export function indexWorkflows(
  definitions: readonly WorkflowDefinition[],
): Map<string, WorkflowDefinition> {
  const byName = new Map<string, WorkflowDefinition>();
  for (const definition of definitions) {
    if (byName.has(definition.name)) {
      throw new ValidationError("DUPLICATE_WORKFLOW", `two workflows are named ${definition.name}`);
    }
    byName.set(definition.name, definition);
  }
  return byName;
}
