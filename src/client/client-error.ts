import { BatonError } from "../common/index.js";

/**
 * An error answer of the Baton API, or a failure to get one. `code`, `message` and `details` are
 * the server's own (docs/http-api.md), so code written against the engine in process branches the
 * same way against the client; `httpStatus` is the status it came with, undefined when no answer
 * arrived (`UNAVAILABLE`, `TIMEOUT`). `retryable` says whether the same request may succeed later.
 *
 * @example
 * try {
 *   await client.getRun("o-1");
 * } catch (e) {
 *   if (e instanceof BatonError && e.code === "RUN_NOT_FOUND") console.log("no such order");
 *   else throw e;
 * }
 */
export class BatonClientError extends BatonError {
  override name = "BatonClientError";
  readonly httpStatus: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { httpStatus?: number; details?: unknown; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, {
      retryable: options.retryable ?? false,
      details: options.details,
      cause: options.cause,
    });
    this.httpStatus = options.httpStatus;
  }
}

/** Answers worth asking again: faults, overload, and a request that took too long. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}
