/**
 * Every error Baton raises is a BatonError with a stable `code`. The registry below is the
 * one place that knows which codes exist and what HTTP status each maps to; the server
 * maps errors with this table and nothing else. Codes that a user's own step throws (say
 * `OUT_OF_STOCK`) are not registered: they travel inside a run's error, never as a status.
 */
export const ErrorCodes = {
  // 400 — bad input
  BAD_REQUEST: 400,
  INVALID_RUN_ID: 400,
  INVALID_ARGUMENT: 400,
  INPUT_NOT_JSON: 400,
  INVALID_CURSOR: 400,
  INVALID_STATUS: 400,
  /** A schedule's cron expression that croner cannot read, or that never fires. */
  INVALID_CRON: 400,
  /** A schedule's time zone that is not an IANA zone. */
  INVALID_TIMEZONE: 400,
  /** A schedule whose name, overlap or catch-up policy, or input is not valid. */
  INVALID_SCHEDULE: 400,
  /** A schedule naming a workflow this server does not know. */
  UNKNOWN_WORKFLOW: 400,
  /** A webhook subscription's url or secret (docs/webhooks.md). */
  INVALID_URL: 400,
  INVALID_SECRET: 400,
  /** An event topic or topic pattern that is malformed, or a topic reserved for Baton's own events. */
  INVALID_TOPIC: 400,
  /** A user event id outside the allowed characters (those of a run id; not starting with `~`). */
  INVALID_EVENT_ID: 400,
  /** A duration that is not a whole number followed by ms, s, m, h or d (or 0). */
  INVALID_DURATION: 400,
  /** Tags on start: not string keys and values, too many, or too long. */
  INVALID_TAGS: 400,
  /** A `tag` filter that is not `key:value`, or a creation time bound that is not ISO 8601. */
  INVALID_FILTER: 400,
  // 401/403 — auth
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  /** A browser request from a page of another origin (cross-site request forgery, DNS rebinding). */
  FORBIDDEN_ORIGIN: 403,
  // 404 — unknown thing
  NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  WORKFLOW_NOT_FOUND: 404,
  /** `start(..., { version })` names a version of the workflow that is not registered. */
  VERSION_NOT_FOUND: 404,
  SERVICE_NOT_FOUND: 404,
  TASK_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  SUBSCRIPTION_NOT_FOUND: 404,
  // 409 — conflict with the current state
  CONFLICT: 409,
  RUN_TERMINAL: 409,
  RUN_NOT_FAILED: 409,
  /** A failed run whose rollback ran to its end: nothing is left to resume. */
  RUN_NOT_RETRYABLE: 409,
  RUN_ID_IN_USE: 409,
  LEASE_LOST: 409,
  /** A second process started under a node id whose lease a live process holds. */
  NODE_ID_IN_USE: 409,
  /** Skip or retry of a compensation that is not failed and waiting for an operator. */
  NO_FAILED_COMPENSATION: 409,
  /** Another process holds the SQLite database: one process at a time may open it. */
  STORE_LOCKED: 409,
  /** A run already holds as many unconsumed signals as its limit allows (docs/operations.md). */
  TOO_MANY_SIGNALS: 409,
  /** ctx.continueAsNew where it cannot be: inside a step, with operations in flight, while rolling back. */
  CONTINUE_AS_NEW_REFUSED: 409,
  // 413, 415, 422
  PAYLOAD_TOO_LARGE: 413,
  /** A start input (or a continueAsNew input) past the output limit. */
  INPUT_TOO_LARGE: 413,
  /** A step's, call's or run's output past the output limit (not retried). */
  OUTPUT_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INPUT_INVALID: 422,
  // Definition mistakes, found when an engine opens.
  DUPLICATE_WORKFLOW: 500,
  DUPLICATE_SERVICE: 500,
  DUPLICATE_SCHEDULE: 500,
  INVALID_DEFINITION: 500,
  // Faults and run-level failures (inside runs; 5xx if they ever reach HTTP).
  INTERNAL: 500,
  NON_DETERMINISM: 500,
  OUTPUT_NOT_JSON: 500,
  STEP_FAILED: 500,
  STEP_TIMEOUT: 504,
  TRANSIENT: 503,
  SIGNAL_TIMEOUT: 504,
  /** ctx.waitForEvent: no matching event came within its timeout. */
  EVENT_TIMEOUT: 504,
  COMPENSATION_FAILED: 500,
  /** A rollback skipped compensations that failed for good (policy `skip`, or an operator). */
  PARTIALLY_COMPENSATED: 500,
  /** A command's outcome stayed unknown when its run rolled back, and it had no `compensateUnknown`. */
  UNKNOWN_OUTCOME: 500,
  DEADLINE_EXCEEDED: 504,
  /** A run's journal reached its entry limit: the run fails (continueAsNew keeps it small). */
  HISTORY_TOO_LARGE: 500,
  /** No worker claimed a queued command within its `queueTimeout`. */
  QUEUE_TIMEOUT: 504,
  /** A worker held a command past its lease (or `timeout`) without replying: the outcome is unknown. */
  LEASE_EXPIRED: 504,
  CANCELLED: 409,
  RUN_FAILED: 500,
  ENGINE_CLOSED: 503,
  STORE_FAILED: 503,
  /** The database cannot be reached (refused, timed out, connection lost); retry later. */
  STORE_UNAVAILABLE: 503,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  /** A service answered a command through RabbitMQ with a reply Baton cannot read. */
  AMQP_REPLY_INVALID: 502,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** An error as it crosses the journal and the wire: plain data, never a class instance. */
export interface ErrorData {
  code: string;
  message: string;
  details?: unknown;
}

export interface BatonErrorOptions {
  retryable?: boolean;
  details?: unknown;
  cause?: unknown;
}

export class BatonError extends Error {
  override name = "BatonError";
  readonly code: string;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: string, message: string, options: BatonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  toJSON(): ErrorData {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** The journal and the code disagree on what happens at a sequence number. */
export class NonDeterminismError extends BatonError {
  override name = "NonDeterminismError";
  constructor(message: string, details?: unknown) {
    super("NON_DETERMINISM", message, { details });
  }
}

/** A write was fenced off: this node no longer owns the run. */
export class LeaseLostError extends BatonError {
  override name = "LeaseLostError";
  constructor(message: string, details?: unknown) {
    super("LEASE_LOST", message, { details });
  }
}

/**
 * A business failure: not retried. Throw it from a step to fail for good, with a code of
 * your own: `throw new StepFailedError("out of stock", { code: "OUT_OF_STOCK" })`.
 */
export class StepFailedError extends BatonError {
  override name = "StepFailedError";
  constructor(
    message: string,
    options: { code?: string; details?: unknown; cause?: unknown } = {},
  ) {
    super(options.code ?? "STEP_FAILED", message, {
      retryable: false,
      details: options.details,
      cause: options.cause,
    });
  }
}

/** A failure worth another attempt, optionally not before `retryAfterMs`. */
export class TransientError extends BatonError {
  override name = "TransientError";
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    options: { code?: string; retryAfterMs?: number; details?: unknown; cause?: unknown } = {},
  ) {
    super(options.code ?? "TRANSIENT", message, {
      retryable: true,
      details: options.details,
      cause: options.cause,
    });
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class NotFoundError extends BatonError {
  override name = "NotFoundError";
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(code, message, { details });
  }
}

export class ConflictError extends BatonError {
  override name = "ConflictError";
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(code, message, { details });
  }
}

export class ValidationError extends BatonError {
  override name = "ValidationError";
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(code, message, { details });
  }
}

/** HTTP status for a code: registered codes map by the table, anything else is a fault. */
export function httpStatusOf(code: string): number {
  return Object.hasOwn(ErrorCodes, code) ? ErrorCodes[code as ErrorCode] : 500;
}

export function isBatonError(value: unknown): value is BatonError {
  return value instanceof BatonError;
}

/**
 * Converts anything thrown into a BatonError, once, at the boundary where it is caught.
 * Plain errors keep their message and their name as `type`; they count as retryable,
 * as an activity failure does in other engines, unless they say otherwise.
 */
export function toBatonError(e: unknown): BatonError {
  if (e instanceof BatonError) return e;
  if (e instanceof Error) {
    const ownCode = (e as { code?: unknown }).code;
    const code = typeof ownCode === "string" ? ownCode : "STEP_FAILED";
    const details = e.name && e.name !== "Error" ? { type: e.name } : undefined;
    return new BatonError(code, e.message || e.name, { retryable: true, details, cause: e });
  }
  return new BatonError(
    "STEP_FAILED",
    typeof e === "string" ? e : `non-error thrown: ${safeString(e)}`,
    {
      retryable: true,
    },
  );
}

/** Rebuilds an error read from the journal or the wire. */
export function fromErrorData(data: ErrorData, retryable = false): BatonError {
  return new BatonError(data.code, data.message, { retryable, details: data.details });
}

export function toErrorData(e: unknown): ErrorData {
  return toBatonError(e).toJSON();
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
