/** `data` as the tests read it: a run on run streams, a BatonEvent on the event stream. */
export interface SseEvent {
  event: string;
  data: Record<string, unknown> & { runId: string; status: string; data?: Record<string, unknown> };
  id?: string;
}

/**
 * Reads Server-Sent Events from a fetch response until the server ends the stream or the
 * consumer stops iterating (which cancels the body). Comment lines are skipped.
 */
export async function* readSse(response: Response): AsyncGenerator<SseEvent> {
  if (!response.body) throw new Error("response has no body");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const chunk: { done: boolean; value?: Uint8Array } = await reader.read();
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of block.split("\n")) {
          if (line.startsWith(":") || line === "") continue;
          const colon = line.indexOf(":");
          fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
        }
        if (!fields.has("data")) continue;
        const event: SseEvent = {
          event: fields.get("event") ?? "message",
          data: JSON.parse(fields.get("data")!) as SseEvent["data"],
        };
        if (fields.has("id")) event.id = fields.get("id")!;
        yield event;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
