/** One dispatched Server-Sent Event. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when the server names none. */
  event: string;
  /** The `data:` lines, joined with newlines. */
  data: string;
  /** The last `id:` seen on the stream so far (it carries over to later events). */
  lastEventId: string | undefined;
  /** The last `retry:` seen on the stream so far: how long to wait before reconnecting, ms. */
  retryMs?: number;
}

/**
 * Parses a text/event-stream body as the HTML standard's EventSource does: lines end in CRLF,
 * LF or CR (a CR at the end of one chunk may pair with an LF at the start of the next); `:`
 * lines are comments (keep-alives); `data:` lines accumulate; a blank line dispatches; an event
 * without data is not dispatched; an unfinished event at the end of the stream is dropped.
 * Returning from the loop cancels the body.
 */
export async function* parseServerSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const event = new PendingEvent();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let start = 0;
      for (;;) {
        const end = lineEnd(buffer, start, done);
        if (end === undefined) break;
        const dispatched = event.feed(buffer.slice(start, end.at));
        if (dispatched) yield dispatched;
        start = end.next;
      }
      buffer = buffer.slice(start);
      if (done) return;
    }
  } finally {
    // Also runs when the consumer stops early: release the connection instead of draining it.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** Where the line starting at `from` ends, and where the next begins; undefined if unfinished. */
function lineEnd(
  buffer: string,
  from: number,
  streamDone: boolean,
): { at: number; next: number } | undefined {
  for (let i = from; i < buffer.length; i++) {
    const char = buffer.charCodeAt(i);
    if (char === LF) return { at: i, next: i + 1 };
    if (char === CR) {
      if (i + 1 < buffer.length)
        return { at: i, next: buffer.charCodeAt(i + 1) === LF ? i + 2 : i + 1 };
      // A CR last in the buffer may be the first half of a CRLF split across chunks.
      return streamDone ? { at: i, next: i + 1 } : undefined;
    }
  }
  return undefined;
}

const LF = 10;
const CR = 13;

/** The fields of the event being read, until a blank line dispatches it. */
class PendingEvent {
  private type = "";
  private data: string[] = [];
  private lastEventId: string | undefined;
  private retryMs: number | undefined;

  feed(line: string): ServerSentEvent | undefined {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.type = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored, as the standard says.
        break;
    }
    return undefined;
  }

  private dispatch(): ServerSentEvent | undefined {
    const { type, data, retryMs } = this;
    this.type = "";
    this.data = [];
    if (data.length === 0) return undefined;
    return {
      event: type || "message",
      data: data.join("\n"),
      lastEventId: this.lastEventId,
      ...(retryMs !== undefined ? { retryMs } : {}),
    };
  }
}
