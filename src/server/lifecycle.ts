import type { FastifyReply } from "fastify";

/**
 * The server's shutdown, as the requests that outlive a normal answer see it. Long polls,
 * `?wait` starts and event streams would each hold `close()` open until they end by
 * themselves; instead they watch `requestSignal`, which aborts when the client goes away or
 * when the server begins to close, and answer (or end their stream) at once.
 */
export class ServerLifecycle {
  private closing = false;
  private readonly onClosing = new Set<() => void>();

  get isClosing(): boolean {
    return this.closing;
  }

  /** Starts the shutdown: every request signal aborts. Idempotent. */
  beginClose(): void {
    if (this.closing) return;
    this.closing = true;
    for (const abort of [...this.onClosing]) abort();
    this.onClosing.clear();
  }

  /**
   * Aborted when the client disconnects, when the answer has been sent, or when the server
   * begins to close: whichever comes first.
   */
  requestSignal(reply: FastifyReply): AbortSignal {
    const controller = new AbortController();
    if (this.closing) {
      controller.abort();
      return controller.signal;
    }
    const abort = (): void => {
      this.onClosing.delete(abort);
      controller.abort();
    };
    this.onClosing.add(abort);
    // A response's "close" fires when it was sent or when its connection dropped; the
    // request's own "close" fires as soon as its body has been read, so it cannot tell.
    reply.raw.once("close", abort);
    return controller.signal;
  }
}

/**
 * A signal that aborts when `signal` does or when `ms` pass; `clear()` drops the timer once
 * the caller no longer needs it, so no timer outlives the request.
 */
export function abortAfter(
  ms: number,
  signal: AbortSignal,
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const timer = setTimeout(abort, ms);
  if (signal.aborted) abort();
  else signal.addEventListener("abort", abort, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
    },
  };
}
