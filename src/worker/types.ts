import type { Logger } from "../common/index.js";
import type { BatonClient } from "../client/index.js";

/** What a handler receives beside the task's input. */
export interface TaskContext {
  /** Names this delivery; a redelivery after a lost lease gets a new one. */
  readonly taskId: string;
  /** `{runId}:{seq}`, the same on every delivery: make the effect exactly-once with it. */
  readonly idempotencyKey: string;
  /** 1 on the first delivery. */
  readonly attempt: number;
  readonly runId: string;
  readonly workflow: string;
  readonly service: string;
  readonly command: string;
  /** W3C trace context of the run, to continue the trace in the handler. */
  readonly traceparent: string;
  /**
   * Aborted when the lease is lost (the task goes to another delivery and this result will not
   * be recorded) or when `stop({ abortAfterMs })` runs out of patience. Pass it to your I/O.
   */
  readonly signal: AbortSignal;
  /**
   * Extends the lease now, optionally with progress details. Leases are renewed automatically;
   * call this from long loops that want to learn early that the lease is gone: it rejects with
   * `LEASE_LOST` then.
   */
  heartbeat(details?: unknown): Promise<void>;
  /** The worker's logger, bound to this task. */
  readonly log: Logger;
}

/**
 * Handles one command. Resolve with the output (JSON); throw to fail. A `StepFailedError`, or
 * any error whose `retryable` is false, is a business failure that is not retried; anything else
 * is retried by the call's retry policy.
 */
export type TaskHandler = (input: never, ctx: TaskContext) => unknown;

export interface WorkerOptions {
  /** The orchestrator; default `BATON_URL`, else `http://127.0.0.1:7070`. */
  url?: string;
  /** API token; default `BATON_API_TOKEN`. */
  token?: string;
  /** A client of your own (custom fetch, timeouts); `url` and `token` are then ignored. */
  client?: BatonClient;
  /** The queue-served service this worker takes commands for. */
  service: string;
  /** One handler per command. */
  handlers: Record<string, TaskHandler>;
  /** Tasks handled at once (default 10). */
  concurrency?: number;
  /** Names this worker to the orchestrator; default `hostname-pid-random`. */
  workerId?: string;
  /**
   * Automatic heartbeats while a handler runs: by default at a third of the lease, so two can
   * be missed before it expires; `{ intervalMs }` fixes the interval; `false` turns them off.
   */
  leaseRenewal?: boolean | { intervalMs: number };
  /** How long each long poll may wait for a task (default 20 s). */
  pollWaitSeconds?: number;
  logger?: Logger;
}

export interface StopOptions {
  /**
   * After this long, abort the signals of handlers still running and stop retrying reports that
   * cannot be delivered; their tasks are delivered again once their leases expire. By default
   * `stop()` waits for every task in flight.
   */
  abortAfterMs?: number;
}
