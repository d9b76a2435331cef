import type { ErrorData } from "../../common/index.js";

/**
 * The size limits of a run (docs/operations.md, "Limits"). A server sets them for every run
 * (`Baton.open({ limits })`, `baton server --max-history …`); a workflow may set its own
 * (`workflow(name, fn, { limits })`), which win over the server's.
 */
export interface RunLimits {
  /**
   * Journal entries per generation of a run. Past it the workflow is stopped with
   * `HISTORY_TOO_LARGE` and rolls back like any failure; `ctx.continueAsNew` starts a fresh journal.
   */
  maxHistory: number;
  /**
   * Bytes of the JSON text of a step's, call's or run's output, and of a run's input (at start and
   * at continueAsNew). A step or call over it fails for good with `OUTPUT_TOO_LARGE`.
   */
  maxOutputBytes: number;
  /** Signals sent to a run and not yet consumed. One more is refused with 409 `TOO_MANY_SIGNALS`. */
  maxSignals: number;
}

export const DEFAULT_LIMITS: RunLimits = Object.freeze({
  maxHistory: 10_000,
  maxOutputBytes: 1024 * 1024,
  maxSignals: 1_000,
});

/** The limits of one workflow's runs: its own where it set them, else the server's. */
export function resolveLimits(
  server: Partial<RunLimits> | undefined,
  workflow: Partial<RunLimits> | undefined,
): RunLimits {
  return {
    maxHistory: workflow?.maxHistory ?? server?.maxHistory ?? DEFAULT_LIMITS.maxHistory,
    maxOutputBytes:
      workflow?.maxOutputBytes ?? server?.maxOutputBytes ?? DEFAULT_LIMITS.maxOutputBytes,
    maxSignals: workflow?.maxSignals ?? server?.maxSignals ?? DEFAULT_LIMITS.maxSignals,
  };
}

/** Why a limit given by a user is not one (a positive whole number), or undefined if it is. */
export function invalidLimit(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number" && Number.isInteger(value) && value > 0) return undefined;
  return `limit ${name} must be a whole number ≥ 1, got ${JSON.stringify(value) ?? typeof value}`;
}

/**
 * Whether the workflow must be stopped because its journal holds `length` entries: only while it
 * runs (a rollback already under way finishes, its own entries past the limit included).
 */
export function isHistoryOverLimit(length: number, limit: number, isStopping: boolean): boolean {
  return !isStopping && length >= limit;
}

/** The error a run fails with at its history limit: it says what to do about it. */
export function historyTooLarge(runId: string, length: number, limit: number): ErrorData {
  return {
    code: "HISTORY_TOO_LARGE",
    message:
      `run ${runId}: its journal reached ${length} entries (limit ${limit}); a workflow that loops ` +
      `should call ctx.continueAsNew(state) every few hundred iterations to start a fresh journal`,
    details: { length, limit },
  };
}

/**
 * The UTF-8 size of a string, counted only when it could be over `limit`: a string of n UTF-16
 * units takes at most 3n bytes, so short ones (nearly every step output) cost one comparison.
 */
export function isTextOverLimit(text: string, limit: number): boolean {
  if (text.length * 3 <= limit) return false;
  if (text.length > limit) return true;
  return utf8Length(text) > limit;
}

export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair is one code point of four bytes.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Whether a value's JSON text is over `limit` bytes (undefined is no text at all). */
export function isValueOverLimit(value: unknown, limit: number): boolean {
  if (value === undefined) return false;
  const text = JSON.stringify(value) as string | undefined;
  return text !== undefined && isTextOverLimit(text, limit);
}

/** Whether one more signal may be kept for a run that holds `pending` unconsumed ones. */
export function mayKeepSignal(pending: number, limit: number): boolean {
  return pending < limit;
}

export function outputTooLarge(what: string, limit: number): ErrorData {
  return {
    code: "OUTPUT_TOO_LARGE",
    message: `${what} is larger than the limit of ${limit} bytes of JSON; keep large data elsewhere (a blob store) and pass a reference`,
    details: { limit },
  };
}
