import { BatonError, httpStatusOf, isBatonError } from "../common/index.js";

/**
 * The one place that tells "the database cannot be reached" from other failures: a refused
 * or reset connection, a connection attempt or a statement that timed out, a connection the
 * server ended. Such failures are answered 503 STORE_UNAVAILABLE, with a short reason and no
 * stack, whatever layer wrapped them on the way: the server stays up and answers again as
 * soon as the database does.
 */

/** System error codes of a network path that does not (or no longer) work. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * PostgreSQL's SQLSTATEs for a server that is going away, not accepting connections, or
 * cancelled a statement at its `statement_timeout`.
 */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "57014"]);

/** node-postgres and its pool say these in words only. */
const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /query read timeout/i,
  /connection error and is not queryable/i,
  /server closed the connection unexpectedly/i,
];

/** The reason the database cannot be reached, if that is what `e` (or a cause of it) says. */
export function unreachableReason(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  const pending: unknown[] = [e];
  while (pending.length > 0 && seen.size < 20) {
    const error = pending.shift();
    if (!(error instanceof Error) || seen.has(error)) continue;
    seen.add(error);
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") {
      if (NETWORK_CODES.has(code)) return code;
      if (UNAVAILABLE_SQLSTATES.has(code)) return `SQLSTATE ${code}: ${firstLine(error.message)}`;
      if (code.startsWith("08") && /^[0-9A-Z]{5}$/.test(code)) return `SQLSTATE ${code}`;
    }
    const message = UNAVAILABLE_MESSAGES.find((pattern) => pattern.test(error.message));
    if (message) return firstLine(error.message);
    pending.push(error.cause);
    if (error instanceof AggregateError) pending.push(...(error.errors as unknown[]));
  }
  return undefined;
}

/**
 * `e` as 503 STORE_UNAVAILABLE when it comes from an unreachable database; undefined
 * otherwise, and always for a refusal of the request itself (a 4xx stays what it is).
 */
export function asStoreUnavailable(e: unknown): BatonError | undefined {
  if (isBatonError(e) && (e.code === "STORE_UNAVAILABLE" || httpStatusOf(e.code) < 500)) {
    return undefined;
  }
  const reason = unreachableReason(e);
  if (reason === undefined) return undefined;
  return new BatonError(
    "STORE_UNAVAILABLE",
    `the database cannot be reached (${reason}); try again shortly`,
    { retryable: true, cause: e },
  );
}

function firstLine(text: string): string {
  return (text.split("\n", 1)[0] ?? "").slice(0, 200);
}
