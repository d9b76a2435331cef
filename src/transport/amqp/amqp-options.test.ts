import { describe, expect, it } from "vitest";
import type { BatonEvent } from "../../common/index.js";
import { AmqpEventBridge, routingKeyOf } from "./amqp-event-bridge.js";
import { reconnectDelay } from "./amqp-connection.js";
import { amqp } from "./amqp-transport.js";
import { silentLogger } from "../../common/index.js";

const URL = "amqp://guest:guest@127.0.0.1:5672";

describe("amqp()", () => {
  it("describes a service reached through RabbitMQ", () => {
    expect(amqp({ url: URL, queue: "payments" })).toEqual({
      kind: "amqp",
      url: URL,
      queue: "payments",
    });
    expect(amqp({ url: URL, queue: "p", replyQueue: "r", leaseMs: 5000, maxInFlight: 10 })).toEqual(
      { kind: "amqp", url: URL, queue: "p", replyQueue: "r", leaseMs: 5000, maxInFlight: 10 },
    );
  });

  it.each([
    [{ url: "http://x", queue: "p" }, /amqp:\/\/ or amqps:\/\//],
    [{ url: URL, queue: "" }, /queue must be a name/],
    [{ url: URL, queue: "amq.direct" }, /queue must be a name/],
    [{ url: URL, queue: "p", replyQueue: "x".repeat(256) }, /replyQueue must be a name/],
    [{ url: URL, queue: "p", leaseMs: 50 }, /leaseMs/],
    [{ url: URL, queue: "p", leaseMs: 1.5 }, /leaseMs/],
    [{ url: URL, queue: "p", maxInFlight: 0 }, /maxInFlight/],
  ])("refuses %j with INVALID_DEFINITION", (options, message) => {
    expect(() => amqp(options)).toThrow(
      expect.objectContaining({
        code: "INVALID_DEFINITION",
        message: expect.stringMatching(message),
      }),
    );
  });
});

describe("reconnectDelay", () => {
  it.each([
    [0, 0, 100],
    [0, 0.999, 300],
    [1, 0.5, 400],
    [3, 0.5, 1600],
    [5, 0.5, 5000],
    [50, 0.5, 5000],
    [50, 0, 2500],
  ])("attempt %i with jitter draw %d waits %i ms", (attempt, draw, ms) => {
    expect(reconnectDelay(attempt, () => draw)).toBe(Math.round(ms));
  });
});

describe("the event bridge", () => {
  const event = (type: string, extra: object = {}): BatonEvent =>
    ({
      type,
      runId: "r",
      workflow: "w",
      status: "running",
      at: "2026-01-01T00:00:00Z",
      ...extra,
    });

  it("routes by topic when the event has one, else by type", () => {
    expect(routingKeyOf(event("run.started"))).toBe("run.started");
    expect(routingKeyOf(event("event", { topic: "order.placed" }))).toBe("order.placed");
  });

  it.each([
    [{ url: "nope" }, /events.amqp.url/],
    [{ url: URL, exchange: "amq.topic" }, /events.amqp.exchange/],
    [{ url: URL, exchange: "has space" }, /events.amqp.exchange/],
    [{ url: URL, maxBuffered: 0 }, /maxBuffered/],
  ])("refuses %j with INVALID_ARGUMENT", (options, message) => {
    expect(() => new AmqpEventBridge(options, silentLogger)).toThrow(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message: expect.stringMatching(message),
      }),
    );
  });

  it("holds at most maxBuffered events and counts the ones it drops, never blocking", async () => {
    const bridge = new AmqpEventBridge({ url: URL, maxBuffered: 3 }, silentLogger);
    for (let i = 0; i < 5; i++) bridge.publish(event("run.updated"));
    expect(bridge.stats).toEqual({ published: 0, dropped: 2, buffered: 3, connected: false });
    await bridge.close();
  });
});
