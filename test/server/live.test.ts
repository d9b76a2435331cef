import { afterEach, describe, expect, it } from "vitest";
import { Baton } from "../../src/index.js";
import { silentLogger } from "../../src/common/index.js";
import { RunSchema, BatonEventSchema } from "../../src/server/schemas/wire.js";
import { onShutdownSignal } from "../../src/server/index.js";
import { parseTopics } from "../../src/server/routes/events.js";
import { tempDbUrl } from "../support/temp-db.js";
import { waitFor } from "../support/wait-for.js";
import { readSse, type SseEvent } from "./sse-client.js";
import { SERVICES, WORKFLOWS, serverFixture } from "./server-fixture.js";

/** The server on a real loopback port, spoken to with real fetch. */

function post(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...init,
  });
}

describe("the server on a loopback port", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("binds 127.0.0.1 by default and reports its URL", async () => {
    const { url } = await fixture.listen();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get("x-request-id")).toEqual(expect.any(String));
    expect(await health.json()).toEqual({ status: "ok" });
  });

  it("streams a run: its current state first, one `run` event per change, and ends after the terminal state", async () => {
    const { url } = await fixture.listen();
    const runId = "stream:1~a.b_c-d";
    expect((await post(`${url}/v1/workflows/approval/runs`, { runId })).status).toBe(201);
    const response = await fetch(`${url}/v1/runs/${encodeURIComponent(runId)}/stream`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");

    const events: SseEvent[] = [];
    for await (const event of readSse(response)) {
      events.push(event);
      if (events.length === 1) {
        const signal = await post(`${url}/v1/runs/${encodeURIComponent(runId)}/signals/decision`, {
          payload: { approved: true },
        });
        expect(signal.status).toBe(202);
      }
    }
    // The loop ended because the server ended the stream.
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((event) => event.event === "run")).toBe(true);
    const runs = events.map((event) => RunSchema.parse(event.data));
    expect(runs.every((run) => run.runId === runId)).toBe(true);
    expect(runs.at(-1)).toMatchObject({
      status: "completed",
      output: { decision: { approved: true } },
    });
    expect(runs.slice(0, -1).every((run) => run.status !== "completed")).toBe(true);
    // No two consecutive events carry the same state.
    for (let i = 1; i < events.length; i++) {
      expect(JSON.stringify(events[i]!.data)).not.toBe(JSON.stringify(events[i - 1]!.data));
    }
  });

  it("streams a run that is already terminal as one event, then ends", async () => {
    const { url } = await fixture.listen();
    await post(`${url}/v1/workflows/greet/runs?wait=10`, { runId: "done-1", input: { name: "z" } });
    const events: SseEvent[] = [];
    for await (const event of readSse(await fetch(`${url}/v1/runs/done-1/stream`)))
      events.push(event);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ runId: "done-1", status: "completed" });
  });

  it("resumes the durable event log from an id (after= or Last-Event-ID), then follows it", async () => {
    const { url } = await fixture.listen();
    for (const bad of [
      fetch(`${url}/v1/events?topic=step.*&after=0`),
      fetch(`${url}/v1/events`, { headers: { "last-event-id": "yesterday" } }),
      fetch(`${url}/v1/events?after=-1`),
    ]) {
      const response = await bad;
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: expect.any(String) } });
    }
    await post(`${url}/v1/workflows/greet/runs?wait=10`, { runId: "log-ok", input: { name: "l" } });
    await post(`${url}/v1/workflows/doomed/runs?wait=10`, { runId: "log-bad" });

    const firstTwo: SseEvent[] = [];
    for await (const event of readSse(await fetch(`${url}/v1/events?after=0&topic=run.*`))) {
      firstTwo.push(event);
      if (firstTwo.length === 2) break;
    }
    expect(firstTwo.map((e) => [e.event, e.data.runId])).toEqual([
      ["run.completed", "log-ok"],
      ["run.failed", "log-bad"],
    ]);
    const [first, second] = firstTwo as [SseEvent, SseEvent];
    expect(Number(second.id)).toBeGreaterThan(Number(first.id));
    expect(second.data).toMatchObject({ id: Number(second.id), type: "run.failed" });
    expect(["failed", "compensated"]).toContain(second.data.status);

    // A reconnecting EventSource sends the last id it saw: it gets what came after, and what
    // comes next.
    const resumed = await fetch(`${url}/v1/events?topic=run.completed,run.failed`, {
      headers: { "last-event-id": first.id! },
    });
    const later: SseEvent[] = [];
    const reading = (async () => {
      for await (const event of readSse(resumed)) {
        later.push(event);
        if (later.length === 2) return;
      }
    })();
    await post(`${url}/v1/workflows/greet/runs?wait=10`, {
      runId: "log-next",
      input: { name: "n" },
    });
    await reading;
    expect(later.map((e) => [e.event, e.data.runId])).toEqual([
      ["run.failed", "log-bad"],
      ["run.completed", "log-next"],
    ]);
  });

  it("publishes events on /v1/events, filtered by topic", async () => {
    const { url } = await fixture.listen();
    const response = await fetch(`${url}/v1/events?topic=run.failed,step.completed`);
    expect(response.status).toBe(200);
    const received: SseEvent[] = [];
    const reading = (async () => {
      for await (const event of readSse(response)) {
        received.push(event);
        if (event.event === "run.failed") return;
      }
    })();
    await post(`${url}/v1/workflows/greet/runs?wait=10`, { runId: "ev-ok", input: { name: "e" } });
    await post(`${url}/v1/workflows/doomed/runs`, { runId: "ev-bad" });
    await reading;
    expect(received.every((e) => e.event === "run.failed" || e.event === "step.completed")).toBe(
      true,
    );
    for (const event of received) {
      expect(BatonEventSchema.parse(event.data).type).toBe(event.event);
    }
    expect(received.map((e) => [e.event, e.data.runId, e.data.data?.name])).toEqual(
      expect.arrayContaining([
        ["step.completed", "ev-ok", "greeter.greet"],
        ["step.completed", "ev-bad", "ok"],
        ["run.failed", "ev-bad", undefined],
      ]),
    );
    expect(
      received.find((e) => e.data.runId === "ev-bad" && e.event === "run.failed")?.data.error,
    ).toBeUndefined();
  });

  it("runs a queued command through a worker over HTTP: long poll, complete, the run completes", async () => {
    const { url } = await fixture.listen();
    // The worker is polling before there is anything to do; the start wakes it.
    const polling = post(`${url}/v1/services/payments/tasks/poll`, {
      workerId: "worker-1",
      waitSeconds: 20,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await post(`${url}/v1/workflows/charge/runs`, {
      runId: "rt-1",
      input: { orderId: "rt-1", cents: 990 },
    });
    const polled = await polling;
    expect(polled.status).toBe(200);
    const { tasks } = (await polled.json()) as {
      tasks: Array<{ taskId: string; input: unknown; idempotencyKey: string }>;
    };
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({
      input: { orderId: "rt-1", cents: 990 },
      idempotencyKey: "rt-1:1",
    });
    const completed = await post(
      `${url}/v1/tasks/${encodeURIComponent(tasks[0]!.taskId)}/complete`,
      {
        output: { paymentId: "pay-1" },
      },
    );
    expect(completed.status).toBe(200);
    const run = await waitFor(async () => {
      const current = (await (await fetch(`${url}/v1/runs/rt-1`)).json()) as {
        status: string;
        output?: unknown;
      };
      return current.status === "completed" && current;
    });
    expect(run.output).toEqual({ paymentId: "pay-1" });
  });

  it("stops a worker's long poll when the worker hangs up, so it takes no task meant for others", async () => {
    const { url } = await fixture.listen();
    const hangUp = new AbortController();
    const abandoned = post(
      `${url}/v1/services/payments/tasks/poll`,
      { workerId: "gone", waitSeconds: 30 },
      {
        signal: hangUp.signal,
      },
    ).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    hangUp.abort();
    expect(await abandoned).toBeInstanceOf(Error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await post(`${url}/v1/workflows/charge/runs`, {
      runId: "hang-1",
      input: { orderId: "h", cents: 1 },
    });
    // Shorter than the 5 s lease: a task the abandoned poll had taken would not be back yet.
    const polled = await post(`${url}/v1/services/payments/tasks/poll`, {
      workerId: "here",
      waitSeconds: 2,
    });
    const { tasks } = (await polled.json()) as { tasks: Array<{ attempt: number }> };
    expect(tasks).toHaveLength(1);
    expect(tasks[0]!.attempt).toBe(1);
  });

  it("asks for the token over the wire too", async () => {
    const { url } = await fixture.listen({ token: "t0ken" });
    const refused = await fetch(`${url}/v1/runs`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    expect(
      (await fetch(`${url}/v1/runs`, { headers: { authorization: "Bearer t0ken" } })).status,
    ).toBe(200);
  });

  it("closes gracefully: streams and long polls end at once, requests in progress finish", async () => {
    const { url, server } = await fixture.listen();
    await post(`${url}/v1/workflows/approval/runs`, { runId: "open-1" });
    const runStream = await fetch(`${url}/v1/runs/open-1/stream`);
    const eventStream = await fetch(`${url}/v1/events`);
    const runEvents: SseEvent[] = [];
    const draining = Promise.all([
      (async () => {
        for await (const event of readSse(runStream)) runEvents.push(event);
      })(),
      (async () => {
        for await (const _event of readSse(eventStream)) {
          // read until the server ends the stream
        }
      })(),
    ]);
    const longPoll = post(`${url}/v1/services/payments/tasks/poll`, {
      workerId: "w",
      waitSeconds: 60,
    });
    const longWait = post(`${url}/v1/workflows/approval/runs?wait=300`, { runId: "open-2" });
    await waitFor(() => runEvents.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));

    const closing = Date.now();
    await server.close();
    expect(Date.now() - closing).toBeLessThan(3_000);
    await draining;
    const polled = await longPoll;
    expect(polled.status).toBe(200);
    expect(await polled.json()).toEqual({ tasks: [] });
    const waited = await longWait;
    expect(waited.status).toBe(201);
    expect(await waited.json()).toMatchObject({ runId: "open-2", status: "waiting" });
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});

describe("Baton.serve", () => {
  it("serves the API on an ephemeral port, and Baton.close() stops it before the engine", async () => {
    const db = tempDbUrl();
    const baton = await Baton.open({
      db: db.url,
      workflows: WORKFLOWS,
      services: SERVICES,
      logger: silentLogger,
    });
    try {
      const serving = await baton.serve({ port: 0, logger: false });
      expect(serving.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await expect(baton.serve({ port: 0, logger: false })).rejects.toMatchObject({
        code: "CONFLICT",
      });
      const started = await post(`${serving.url}/v1/workflows/greet/runs?wait=10`, {
        input: { name: "served" },
      });
      expect(started.status).toBe(201);
      expect(await started.json()).toMatchObject({
        status: "completed",
        output: { greeting: "hello served" },
      });
      await baton.close();
      await expect(fetch(`${serving.url}/healthz`)).rejects.toThrow();
      await serving.close(); // harmless once closed
    } finally {
      await baton.close();
      db.cleanup();
    }
  });

  it("can serve again after its server was closed", async () => {
    const db = tempDbUrl();
    const baton = await Baton.open({
      db: db.url,
      workflows: WORKFLOWS,
      services: SERVICES,
      logger: silentLogger,
    });
    try {
      const first = await baton.serve({ port: 0, logger: false });
      await first.close();
      const second = await baton.serve({ port: 0, logger: false });
      expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    } finally {
      await baton.close();
      db.cleanup();
    }
  });
});

describe("event topics", () => {
  const selected = (topic: string | string[] | undefined, among: string[]): string[] =>
    among.filter((type) => parseTopics(topic).matches(type));
  const TOPICS = [
    "run.failed",
    "run.completed",
    "step.completed",
    "step.failed",
    "order.placed",
    "order.item.added",
    "payment.settled",
  ];

  it("select exact topics, one-segment wildcards and everything", () => {
    expect(selected("run.failed,step.completed", TOPICS)).toEqual(["run.failed", "step.completed"]);
    expect(selected(["step.*", "order.*"], TOPICS)).toEqual([
      "step.completed",
      "step.failed",
      "order.placed",
    ]);
    expect(selected("*.placed,order.*.added", TOPICS)).toEqual([
      "order.placed",
      "order.item.added",
    ]);
    expect(selected(undefined, TOPICS)).toEqual(TOPICS);
    expect(selected(" , ", TOPICS)).toEqual(TOPICS);
    expect(selected("*", TOPICS)).toEqual(TOPICS);
  });

  it("refuse malformed patterns and Baton topics that do not exist; user topics are open", () => {
    for (const bad of ["Order.Placed", "order..placed", "order.pl*", "order.placed!", ".x"]) {
      expect(() => parseTopics(bad), bad).toThrow(
        expect.objectContaining({ code: "INVALID_TOPIC" }),
      );
    }
    expect(() => parseTopics("run.exploded")).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(parseTopics("job.*").selectsDurable).toBe(true);
    expect(parseTopics("step.*").selectsDurable).toBe(false);
    expect(parseTopics("step.*,run.failed").selectsDurable).toBe(true);
  });
});

describe("onShutdownSignal", () => {
  it("calls the shutdown once, on the first SIGINT or SIGTERM, ignores the same Ctrl-C delivered twice, and can be removed", async () => {
    const calls: string[] = [];
    const before = process.listenerCount("SIGTERM");
    const removeFirst = onShutdownSignal((signal) => {
      calls.push(signal);
    });
    expect(process.listenerCount("SIGTERM")).toBe(before + 1);
    process.emit("SIGTERM", "SIGTERM");
    // At once after the first: the same key press relayed by a wrapper, not a second one.
    process.emit("SIGINT", "SIGINT");
    await Promise.resolve();
    expect(calls).toEqual(["SIGTERM"]);
    removeFirst();
    expect(process.listenerCount("SIGTERM")).toBe(before);

    const remove = onShutdownSignal(() => {
      calls.push("again");
    });
    remove();
    expect(process.listenerCount("SIGTERM")).toBe(before);
  });
});
