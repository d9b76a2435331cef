import { BatonError } from "../common/index.js";
import { BatonClientError } from "./client-error.js";
import { parseServerSentEvents, type ServerSentEvent } from "./sse.js";

export interface FollowOptions {
  /** Ends the iteration quietly. */
  signal?: AbortSignal | undefined;
  /** Connections in a row that may fail (or end without an event) before the iteration throws. */
  maxReconnects: number;
  /** Names the stream in the error thrown when reconnecting gives up. */
  describe: string;
}

/** A connection open this long was healthy, even if nothing happened on it. */
const HEALTHY_CONNECTION_MS = 5_000;
/** Until the server says otherwise with `retry:`, as EventSource does. */
const DEFAULT_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

/**
 * Follows a Server-Sent Events endpoint across dropped connections, as EventSource would, but
 * with the client's auth and error mapping: when a connection drops or the server ends it, it
 * reconnects with `Last-Event-ID` after the server's `retry:` delay, backing off while
 * connections keep failing. An error answer that retrying cannot fix (404, 401) is thrown at
 * once. The consumer ends the iteration when it has what it wants; that closes the connection.
 */
export async function* followEventStream(
  connect: (lastEventId: string | undefined, signal: AbortSignal) => Promise<Response>,
  options: FollowOptions,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const { signal } = options;
  let lastEventId: string | undefined;
  let retryMs = DEFAULT_RETRY_MS;
  let failures = 0;
  let lastError: unknown;
  while (!signal?.aborted) {
    // One controller per connection, so an early return closes this socket and nothing else.
    const connection = new AbortController();
    const forwardAbort = (): void => connection.abort(signal?.reason);
    signal?.addEventListener("abort", forwardAbort, { once: true });
    let received = false;
    const openedAt = Date.now();
    try {
      const response = await connect(lastEventId, connection.signal);
      if (!response.body)
        throw new BatonClientError(
          "UNEXPECTED_RESPONSE",
          `${options.describe} answered without a body`,
        );
      for await (const event of parseServerSentEvents(response.body)) {
        received = true;
        lastEventId = event.lastEventId ?? lastEventId;
        if (event.retryMs !== undefined) retryMs = event.retryMs;
        yield event;
      }
    } catch (e) {
      if (signal?.aborted) return;
      // Answers that retrying cannot fix end the iteration; a stream cut mid-body does not.
      if (e instanceof BatonError && !e.retryable) throw e;
      lastError = e;
    } finally {
      signal?.removeEventListener("abort", forwardAbort);
      connection.abort();
    }
    if (received || Date.now() - openedAt >= HEALTHY_CONNECTION_MS) failures = 0;
    failures++;
    if (failures > options.maxReconnects) {
      throw lastError instanceof BatonError
        ? lastError
        : new BatonClientError(
            "UNAVAILABLE",
            `${options.describe}: gave up after ${failures} connections in a row failed or ended early`,
            { retryable: true, cause: lastError },
          );
    }
    await sleep(Math.min(MAX_RETRY_MS, retryMs * 2 ** Math.max(0, failures - 1)), signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
