import { describe, expect, it } from "vitest";
import { parseServerSentEvents, type ServerSentEvent } from "./sse.js";

/** A body that arrives in exactly these chunks, as a network would cut it. */
function body(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function parse(...chunks: string[]): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  for await (const event of parseServerSentEvents(body(...chunks))) events.push(event);
  return events;
}

describe("parseServerSentEvents", () => {
  it("dispatches named events with their data on a blank line", async () => {
    expect(await parse('event: run\ndata: {"a":1}\n\n')).toEqual([
      { event: "run", data: '{"a":1}', lastEventId: undefined },
    ]);
  });

  it("joins multi-line data with newlines and strips one leading space only", async () => {
    const [event] = await parse("data: first\ndata:  second\ndata\n\n");
    expect(event!.data).toBe("first\n second\n");
    expect(event!.event).toBe("message");
  });

  it("skips comments and keep-alives, and events without data", async () => {
    expect(await parse(": stream open\n\n: ping\n\nevent: run\n\ndata: x\n\n")).toEqual([
      { event: "message", data: "x", lastEventId: undefined },
    ]);
  });

  it("handles CRLF, CR and LF line ends, even when a CRLF is split across chunks", async () => {
    const events = await parse("event: a\r", "\ndata: 1\r", "\n\r\n", "data: 2\r\rdata: 3\n\n");
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ["a", "1"],
      ["message", "2"],
      ["message", "3"],
    ]);
  });

  it("reassembles fields and multi-byte characters cut mid-way", async () => {
    const bytes = new TextEncoder().encode("data: héllo ✓\n\n");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    const events: ServerSentEvent[] = [];
    for await (const event of parseServerSentEvents(stream)) events.push(event);
    expect(events.map((e) => e.data)).toEqual(["héllo ✓"]);
  });

  it("carries the last id and retry over to later events", async () => {
    const events = await parse("id: 7\nretry: 2500\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\n");
    expect(events.map((e) => [e.data, e.lastEventId, e.retryMs])).toEqual([
      ["a", "7", 2500],
      ["b", "7", 2500],
      ["c", "8", 2500],
    ]);
  });

  it("drops an event the stream ended in the middle of", async () => {
    expect(await parse("data: complete\n\ndata: cut off")).toHaveLength(1);
  });
});
