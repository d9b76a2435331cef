import type { Logger } from "../common/index.js";
import type { RetryPolicy } from "./retry.js";
import type { TransportSpec } from "../transport/index.js";
import type { CompensationFailurePolicy } from "./core/run-core.js";

/** What a step's function receives. */
export interface StepInfo {
  runId: string;
  seq: number;
  /** 1 on the first attempt. */
  attempt: number;
  /** `{runId}:{seq}`, the same on every attempt: pass it on to make the step exactly-once in effect. */
  idempotencyKey: string;
  /** Aborted when the attempt times out. */
  signal: AbortSignal;
}

export interface StepOptions<T> {
  /**
   * Rolls the step back if the run fails for good or is cancelled later. Runs inside the
   * workflow, so it typically calls `ctx.call(...)`; it is journaled like any operation.
   */
  compensate?: (output: T) => Promise<unknown>;
  /**
   * Compensate this call also when its outcome stays unknown at rollback (a worker's lease or
   * the call's timeout ran out with no answer); `compensate` then receives `undefined`. Without
   * it such a run ends `failed` with `UNKNOWN_OUTCOME`.
   */
  compensateUnknown?: boolean;
  /** Overrides the workflow's `onCompensationFailure` for this compensation. */
  onCompensationFailure?: CompensationFailurePolicy;
  retry?: RetryPolicy;
  /**
   * Per-attempt timeout in milliseconds. For a queue-served service: one delivery, from a
   * worker's claim to its reply (heartbeats do not extend past it).
   */
  timeout?: number;
  /** Queue-served services only: how long a command may wait for a worker to claim it (ms). */
  queueTimeout?: number;
}

export interface ChildOptions {
  /** The child's run id; by default derived from the parent's run id and the seq. */
  runId?: string;
}

/**
 * The handle a workflow uses for everything that must survive a crash. Each call gets the
 * next sequence number; on replay, calls already in the journal return their recorded result
 * instead of running again. Between ctx calls, workflow code must be deterministic: no
 * `Date.now()`, `Math.random()`, timers or I/O of its own — use `now()`, `random()`, `uuid()`,
 * `sleep()` and `step()` instead.
 *
 * @example
 * const order = workflow("placeOrder", async (ctx, input: Order) => {
 *   const r = await ctx.call(inventory, "reserve", input, {
 *     compensate: (res) => ctx.call(inventory, "release", res),
 *   });
 *   await ctx.sleep(1000);
 *   return { reservation: r };
 * });
 */
export interface WorkflowContext {
  readonly runId: string;
  readonly workflow: string;
  /** A logger bound to the run; silent while the run replays. */
  readonly log: Logger;

  /** Runs `fn` at least once, durably records its JSON result, retries it by policy. */
  step<T>(
    name: string,
    fn: (info: StepInfo) => T | Promise<T>,
    options?: StepOptions<T>,
  ): Promise<T>;

  /** Sends `command` to a service and awaits its reply (docs/workers.md). */
  call<T = unknown>(
    service: ServiceDefinition | string,
    command: string,
    input?: unknown,
    options?: StepOptions<T>,
  ): Promise<T>;

  /** A durable timer: survives restarts, fires at its time, never early. */
  sleep(ms: number): Promise<void>;

  /**
   * Resolves with the payload of the next signal called `name`. A signal sent before the
   * wait is kept for it. With `timeout`, rejects with code `SIGNAL_TIMEOUT` once it passes.
   */
  waitForSignal<T = unknown>(name: string, options?: { timeout?: number }): Promise<T>;

  /** Starts a child run and awaits its output; a failed child rejects with its error. */
  child<O = unknown>(
    workflow: AnyWorkflow | WorkflowDefinition<never, O> | string,
    input?: unknown,
    options?: ChildOptions,
  ): Promise<O>;

  /** The current time in ms, journaled: the same value on replay. */
  now(): number;
  /** A random number in [0, 1), journaled. */
  random(): number;
  /** A random UUID, journaled. */
  uuid(): string;

  /**
   * Changes workflow code in place without breaking runs already past the change (docs/versions.md).
   * `true` when the run reaches this point for the first time on code that has the patch (a
   * marker is journaled here); `false` when the run's journal went past this point before the
   * patch existed — take the old path then. A patch answers the same every time in one run.
   *
   * @example
   * if (ctx.patched("fraud-check")) await ctx.call(fraud, "check", order);
   */
  patched(id: string): boolean;

  /**
   * Marks a patch whose old branch is gone: the marker is journaled (or accepted where the
   * journal has it) but the code does not branch. Replace `if (ctx.patched(id))` by
   * `ctx.deprecatePatch(id)` once no run that took the old path is left (docs/versions.md).
   */
  deprecatePatch(id: string): void;
}

// ─── Definitions: what workflow() and service() make (definitions.ts) ──────────────

/** The part of a zod schema the engine uses, so zod stays the user's choice of version. */
export interface InputSchema<T> {
  safeParse(
    input: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: unknown } };
}

export interface WorkflowOptions<I> {
  /**
   * The version of this code of the workflow (a positive integer, default 1). Several versions
   * of one workflow may be registered at once: a new run takes the highest, a run keeps the
   * version it started with and only code of that version executes it (docs/versions.md).
   */
  version?: number;
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

export type WorkflowFunction<I, O> = (ctx: WorkflowContext, input: I) => Promise<O>;

export interface WorkflowDefinition<I = unknown, O = unknown> {
  readonly kind: "workflow";
  readonly name: string;
  /** `options.version`, or 1. */
  readonly version: number;
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
