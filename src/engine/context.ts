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

export interface EmitOptions {
  /**
   * The event's id (its idempotency key in the log, 1–99 of A–Z a–z 0–9 . _ - ~ :). By default
   * `{runId}:{seq}`.
   */
  id?: string;
}

export interface WaitForEventOptions {
  /** Top-level fields the event's data must have, each equal to the given value. */
  where?: Record<string, unknown>;
  /** ms; past it the wait rejects with `EVENT_TIMEOUT`. */
  timeout?: number;
}

/** The event a trigger starts a run for (what `runId` of a trigger receives). */
export interface TriggerEvent {
  topic: string;
  id: string;
  data: unknown;
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

  /**
   * Publishes a user event to the durable log (docs/events.md), exactly once per run: the event is
   * committed with the journal entry that records it, and a replay returns the recorded id without
   * publishing again. Its id defaults to one derived from the run id and seq; an id already in the
   * log publishes nothing (the existing event stands). Starts the runs of workflows triggered by
   * the topic, in the same commit. Resolves with the event's id once durable.
   *
   * @example
   * await ctx.emit("order.shipped", { orderId: input.orderId });
   */
  emit(topic: string, data?: unknown, options?: EmitOptions): Promise<{ id: string }>;

  /**
   * Resolves with the data of the first event on `topic` published after the wait began whose
   * data has every `where` field equal (top-level fields only; an object value is compared by its
   * JSON). With `timeout`, rejects with code `EVENT_TIMEOUT` once it passes. Journaled: a replay
   * gets the same event.
   *
   * @example
   * const payment = await ctx.waitForEvent("payment.settled", {
   *   where: { orderId: input.orderId },
   *   timeout: 60_000,
   * });
   */
  waitForEvent<T = unknown>(topic: string, options?: WaitForEventOptions): Promise<T>;

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
  /**
   * Triggers (docs/events.md): one run per event published on these topics (user topics, no
   * wildcards), with the event's data as input and run id `{topic}:{eventId}` — created in the
   * same transaction as the event, so exactly once per event id.
   */
  on?: string | readonly string[];
  /** A trigger's run id for an event, instead of `{topic}:{eventId}`. Must be deterministic. */
  runId?: (event: TriggerEvent) => string;
  /**
   * How long the workflow's runs are kept once they end, then deleted with their journal, tasks,
   * signals and events: a duration such as "90s", "15m", "12h" or "30d", or ms; `0` keeps them
   * forever. Overrides the node's default (`Baton.open({ retention })`, `baton server --retention`).
   */
  retention?: string | number;
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
