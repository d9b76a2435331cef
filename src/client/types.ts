import type { RunStatus, ScheduleCatchup, ScheduleOverlap } from "../common/index.js";

export interface BatonClientOptions {
  /** The server's base URL; default `BATON_URL`, else `http://127.0.0.1:7070`. */
  url?: string;
  /** API token sent as `Authorization: Bearer …`; default `BATON_API_TOKEN`. */
  token?: string;
  /** How long a request may take before it fails with `TIMEOUT` (default 30 s); long polls and `waitSeconds` add their wait. */
  timeoutMs?: number;
  /** A fetch of your own (a proxy-aware dispatcher, instrumentation); default the global fetch. */
  fetch?: typeof globalThis.fetch;
}

export interface StartRunOptions {
  /** The run's id; starting with an id that exists returns the existing run. */
  runId?: string;
  /** Sent as the `Idempotency-Key` header: the run id when `runId` is not given. */
  idempotencyKey?: string;
  /** Answer once the run is terminal or this many seconds have passed. */
  waitSeconds?: number;
  /**
   * Time limit in ms from now, overriding the workflow's: when it passes, the run fails with
   * `DEADLINE_EXCEEDED` and rolls back. A run that already exists keeps its own.
   */
  deadline?: number;
  /** Start this registered version of the workflow instead of the newest (`VERSION_NOT_FOUND` otherwise). */
  version?: number;
  /** Tags to search the run by, e.g. `{ customer: "c-17" }`: at most 16 string keys and values. */
  tags?: Record<string, string>;
}

export interface ListRunsQuery {
  workflow?: string;
  status?: RunStatus;
  /** Runs whose id starts with this. */
  runIdPrefix?: string;
  /** Only runs with every one of these tags, e.g. `{ customer: "c-17" }`. */
  tags?: Record<string, string>;
  /** Only runs created at or after this time. */
  createdAfter?: Date | string;
  /** Only runs created before this time. */
  createdBefore?: Date | string;
  /** At most this many (server default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** A workflow with its number of runs in each status, and its versions. */
export type WorkflowSummary = {
  name: string;
  /** False for a workflow known only from stored runs. */
  registered: boolean;
  /** The version a new run takes (the newest registered); absent when not registered. */
  version?: number;
  /** Every version registered or found in stored runs, lowest first. */
  versions: WorkflowVersionSummary[];
} & Record<RunStatus, number>;

/** One version of a workflow: whether the server has its code, and its runs. */
export interface WorkflowVersionSummary {
  version: number;
  registered: boolean;
  /** Runs of this version not yet terminal. */
  inFlight: number;
  total: number;
}

export interface StreamOptions {
  /** Aborting it ends the iteration quietly. */
  signal?: AbortSignal;
}

export interface EventsOptions extends StreamOptions {
  /**
   * Topics to receive: `run.failed`, `order.placed`, patterns where a segment is `*` (`step.*`,
   * `order.*`), or `*` (the default).
   */
  topics?: readonly string[];
  /**
   * Follow the durable log from after this position (an event's `id`; 0: from the start) instead
   * of live events. Reconnections resume after the last event received.
   */
  after?: number;
  /** Only events of runs of this workflow. */
  workflow?: string;
  /** Only events of this run. */
  runId?: string;
}

export interface PollOptions {
  workerId: string;
  /** Most tasks to lease at once (default 1). */
  max?: number;
  /** Long poll: how long the server may hold the request open for a task. */
  waitSeconds?: number;
  signal?: AbortSignal;
}

/** A worker's failure report (docs/workers.md). */
export interface TaskFailure {
  error: {
    message: string;
    /** The error's class name, e.g. `CardDeclinedError`; policies can refuse to retry by it. */
    type?: string;
    /** A SNAKE_CASE code of your own, carried into the run's error. */
    code?: string;
  };
  /** False for a business failure that must not be retried (default true). */
  retryable?: boolean;
}

/** A schedule to create or replace (docs/schedules.md). */
export interface SaveScheduleRequest {
  name: string;
  /** 5 fields, or 6 with seconds first; `@daily` and friends. */
  cron: string;
  /** IANA time zone of the cron times (default UTC). */
  timezone?: string;
  workflow: string;
  input?: unknown;
  overlap?: ScheduleOverlap;
  catchup?: ScheduleCatchup;
}
