import type { ServerResponse } from "node:http";
import type { FastifyReply } from "fastify";

export interface SseOptions {
  /** A comment line this often keeps proxies and load balancers from closing an idle stream. */
  heartbeatMs: number;
  /**
   * A client that stops reading while events keep coming would make the server buffer
   * without bound; past this many unsent bytes its stream is ended instead. It can
   * reconnect and read the current state again.
   */
  maxBufferedBytes: number;
}

/**
 * A Server-Sent Events stream on a request fastify hands over (hijacks). Each event is
 * `event: NAME`, optionally `id: ID`, and one `data:` line of JSON, then a blank line.
 * The stream ends when `signal` aborts (the client left, the server closes), when the
 * client falls too far behind, or when `end()` is called.
 */
export class SseStream {
  private readonly res: ServerResponse;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private readonly endListeners: Array<() => void> = [];
  private ended = false;

  constructor(
    reply: FastifyReply,
    signal: AbortSignal,
    private readonly options: SseOptions,
  ) {
    reply.hijack();
    this.res = reply.raw;
    this.res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      // The connection carries this stream only: once it ends, closing the socket lets a
      // shutting-down server finish without waiting for an idle keep-alive connection.
      connection: "close",
      // nginx and its kin buffer responses unless told not to.
      "x-accel-buffering": "no",
      "x-request-id": reply.request.id,
    });
    // A first line makes clients see the stream open before the first event.
    this.res.write(": stream open\n\n");
    this.heartbeat = setInterval(() => this.write(": ping\n\n"), options.heartbeatMs);
    this.res.once("close", () => this.end());
    if (signal.aborted) this.end();
    else signal.addEventListener("abort", () => this.end(), { once: true });
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  send(event: string, data: unknown, id?: string | number): void {
    const idLine = id === undefined ? "" : `id: ${String(id)}\n`;
    // JSON.stringify writes no line breaks, so one data line carries the whole value.
    this.write(`event: ${event}\n${idLine}data: ${JSON.stringify(data)}\n\n`);
  }

  /** Calls `listener` once when the stream ends, whatever ended it. */
  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    if (!this.res.writableEnded) this.res.end();
    for (const listener of this.endListeners.splice(0)) listener();
  }

  private write(text: string): void {
    if (this.ended) return;
    this.res.write(text);
    if (this.res.writableLength > this.options.maxBufferedBytes) this.end();
  }
}
