import { afterEach, describe, expect, it } from "vitest";
import { workflow, type BatonError } from "../../src/index.js";
import { BatonClient } from "../../src/client/index.js";
import { BatonEventSchema } from "../../src/server/schemas/wire.js";
import { readSse, type SseEvent } from "./sse-client.js";
import { SERVICES, WORKFLOWS, serverFixture } from "./server-fixture.js";

/** User events over HTTP: publish, follow, trigger and wait, on a real loopback port. */

const settlement = workflow("settlement", async (ctx, input: { orderId: string }) => {
  try {
    const payment = await ctx.waitForEvent<{ cents: number }>("payment.settled", {
      where: { orderId: input.orderId },
      timeout: input.orderId === "o-never" ? 300 : 60_000,
    });
    return { paid: payment.cents };
  } catch (e) {
    return { timedOut: (e as BatonError).code };
  }
});

const onPlaced = workflow(
  "on-placed",
  async (ctx, input: { orderId: string }) => {
    await ctx.emit("order.accepted", { orderId: input.orderId });
    return input;
  },
  { on: "order.placed" },
);

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("events over HTTP", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  async function listen() {
    return fixture.listen(
      {},
      { workflows: [...WORKFLOWS, settlement, onPlaced], services: SERVICES },
    );
  }

  it("publishes once per id: 202 {id}, then 200 with the first event; the trigger runs once", async () => {
    const { url, baton } = await listen();
    const first = await post(`${url}/v1/events`, {
      topic: "order.placed",
      id: "o-1",
      data: { orderId: "o-1" },
    });
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ id: "o-1" });
    const again = await post(`${url}/v1/events`, {
      topic: "order.placed",
      id: "o-1",
      data: { orderId: "changed" },
    });
    expect(again.status).toBe(200);
    const existing = BatonEventSchema.parse(await again.json());
    expect(existing).toMatchObject({
      type: "order.placed",
      eventId: "o-1",
      user: true,
      data: { orderId: "o-1" },
      id: expect.any(Number),
    });
    expect(await baton.result("order.placed:o-1")).toEqual({ orderId: "o-1" });
    expect((await baton.list({ workflow: "on-placed" })).runs).toHaveLength(1);

    const generated = await post(`${url}/v1/events`, { topic: "audit.noted" });
    expect(generated.status).toBe(202);
    expect(((await generated.json()) as { id: string }).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses reserved and malformed topics, bad ids and unknown fields with 400, writing nothing", async () => {
    const { url, baton } = await listen();
    const cases: Array<[unknown, string]> = [
      [{ topic: "run.failed" }, "INVALID_TOPIC"],
      [{ topic: "step.completed", data: 1 }, "INVALID_TOPIC"],
      [{ topic: "compensation.failed" }, "INVALID_TOPIC"],
      [{ topic: "baton.anything" }, "INVALID_TOPIC"],
      [{ topic: "Order.Placed" }, "INVALID_TOPIC"],
      [{ topic: "order..placed" }, "INVALID_TOPIC"],
      [{ topic: "order.*" }, "INVALID_TOPIC"],
      [{ topic: "order.placed", id: "~7" }, "INVALID_EVENT_ID"],
      [{ topic: "order.placed", id: "a b" }, "INVALID_EVENT_ID"],
    ];
    for (const [body, code] of cases) {
      const answer = await post(`${url}/v1/events`, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(await answer.json()).toMatchObject({ error: { code } });
    }
    const unknownField = await post(`${url}/v1/events`, { topic: "a.b", payload: 1 });
    expect(unknownField.status).toBe(400);
    for (const bad of ["Order.*", "order.pl*", "a..b"]) {
      const stream = await fetch(`${url}/v1/events?topic=${encodeURIComponent(bad)}&after=0`);
      expect(stream.status, bad).toBe(400);
      expect(await stream.json()).toMatchObject({ error: { code: "INVALID_TOPIC" } });
    }
    expect(await baton.engine.readEvents(0, 10)).toEqual([]);
  });

  it("resumes the log by Last-Event-ID across user and lifecycle events, filtered by pattern", async () => {
    const { url } = await listen();
    await post(`${url}/v1/events`, { topic: "order.placed", id: "o-2", data: { orderId: "o-2" } });
    await post(`${url}/v1/workflows/doomed/runs?wait=10`, { runId: "bad-1" });
    await post(`${url}/v1/events`, { topic: "payment.failed", id: "p-1", data: {} });

    const seen: SseEvent[] = [];
    const topics = "order.*,*.failed";
    for await (const event of readSse(await fetch(`${url}/v1/events?topic=${topics}&after=0`))) {
      seen.push(event);
      if (seen.length === 4) break;
    }
    // The trigger's run emitted order.accepted; doomed's end wrote run.failed.
    expect(seen.map((e) => e.event)).toEqual([
      "order.placed",
      "order.accepted",
      "run.failed",
      "payment.failed",
    ]);
    expect(seen.map((e) => Number(e.id))).toEqual(seen.map((e) => e.data.id));
    const ids = seen.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);

    // A reconnecting consumer sends the last id it saw (which wins over `after`).
    const resumed = await fetch(`${url}/v1/events?topic=${topics}&after=0`, {
      headers: { "last-event-id": seen[1]!.id! },
    });
    const later: SseEvent[] = [];
    const reading = (async () => {
      for await (const event of readSse(resumed)) {
        later.push(event);
        if (later.length === 3) return;
      }
    })();
    await post(`${url}/v1/events`, { topic: "order.cancelled", id: "o-2-x", data: {} });
    await reading;
    expect(later.map((e) => e.event)).toEqual(["run.failed", "payment.failed", "order.cancelled"]);
  });

  it("resumes a run waiting for payment.settled on the matching event only, or times out", async () => {
    const { url } = await listen();
    const client = new BatonClient({ url });
    await client.startRun("settlement", { orderId: "o-3" }, { runId: "s-3" });
    await client.startRun("settlement", { orderId: "o-never" }, { runId: "s-never" });
    const waiting = await pollRun(client, "s-3", (r) => r.waitingOn?.kind === "event");
    expect(waiting.waitingOn).toMatchObject({
      kind: "event",
      topic: "payment.settled",
      where: { orderId: "o-3" },
    });
    await client.publish("payment.settled", { orderId: "o-4", cents: 4 });
    expect(
      await client.publish("payment.settled", { orderId: "o-3", cents: 3 }, { id: "pay-3" }),
    ).toEqual({ id: "pay-3", created: true });
    expect(
      await client.publish("payment.settled", { orderId: "o-3", cents: 9 }, { id: "pay-3" }),
    ).toMatchObject({ id: "pay-3", created: false, event: { data: { orderId: "o-3", cents: 3 } } });
    const done = await pollRun(client, "s-3", (r) => r.status === "completed");
    expect(done.output).toEqual({ paid: 3 });
    const timedOut = await pollRun(client, "s-never", (r) => r.status === "completed");
    expect(timedOut.output).toEqual({ timedOut: "EVENT_TIMEOUT" });
  });

  it("the client follows the durable log from a position", async () => {
    const { url } = await listen();
    const client = new BatonClient({ url });
    await client.publish("order.placed", { orderId: "o-6" }, { id: "o-6" });
    const controller = new AbortController();
    const got: string[] = [];
    for await (const event of client.events({
      topics: ["order.*"],
      after: 0,
      signal: controller.signal,
    })) {
      got.push(`${event.type}:${event.eventId}`);
      if (got.length === 2) controller.abort();
    }
    expect(got).toEqual(["order.placed:o-6", "order.accepted:order.placed:o-6:1"]);
  });
});

async function pollRun(
  client: BatonClient,
  runId: string,
  done: (run: Awaited<ReturnType<BatonClient["getRun"]>>) => boolean,
) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const run = await client.getRun(runId);
    if (done(run)) return run;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} never got there: ${JSON.stringify(run)}`);
    // A poll interval inside a bounded loop: the run changes on the server's time.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
