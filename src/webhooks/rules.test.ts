import { describe, expect, it } from "vitest";
import type { SubscriptionRecord } from "../store/index.js";
import { planDeliveries, readFrom } from "./fan-out.js";
import { DEFAULT_WEBHOOK_RETRY, decideAfterAttempt, type AttemptResult } from "./retry-schedule.js";
import { checkSecret, checkTopics, checkUrl } from "./subscription-input.js";
import { checkTopicPattern, topicMatcher } from "./topics.js";
import { parseRetryAfter } from "./webhook-sender.js";

const policy = {
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maxIntervalMs: 10_000,
  jitter: 0.2,
};
const answered = (statusCode: number, retryAfterMs?: number): AttemptResult =>
  retryAfterMs === undefined
    ? { kind: "answered", statusCode }
    : { kind: "answered", statusCode, retryAfterMs };
const unreachable: AttemptResult = { kind: "unreachable", error: "ECONNREFUSED" };

describe("decideAfterAttempt", () => {
  it.each([
    { result: answered(200), attempt: 1, random: 0.5, decision: { kind: "delivered" } },
    { result: answered(204), attempt: 9, random: 0.5, decision: { kind: "delivered" } },
    {
      result: answered(500),
      attempt: 1,
      random: 0.5,
      decision: { kind: "retry", delayMs: 1_000, error: "HTTP 500" },
    },
    {
      result: answered(500),
      attempt: 3,
      random: 0.5,
      decision: { kind: "retry", delayMs: 4_000, error: "HTTP 500" },
    },
    {
      result: answered(503),
      attempt: 2,
      random: 0,
      decision: { kind: "retry", delayMs: 1_600, error: "HTTP 503" },
    },
    {
      result: answered(503),
      attempt: 2,
      random: 0.999_999,
      decision: { kind: "retry", delayMs: 2_400, error: "HTTP 503" },
    },
    {
      result: answered(500),
      attempt: 30,
      random: 0.5,
      decision: { kind: "retry", delayMs: 10_000, error: "HTTP 500" },
    },
    {
      result: answered(301),
      attempt: 1,
      random: 0.5,
      decision: { kind: "retry", delayMs: 1_000, error: "HTTP 301" },
    },
    {
      result: answered(410),
      attempt: 1,
      random: 0.5,
      decision: { kind: "retry", delayMs: 1_000, error: "HTTP 410" },
    },
    {
      result: answered(429, 7_000),
      attempt: 1,
      random: 0.5,
      decision: { kind: "retry", delayMs: 7_000, error: "HTTP 429" },
    },
    {
      result: answered(429, 60_000),
      attempt: 1,
      random: 0.5,
      decision: { kind: "retry", delayMs: 10_000, error: "HTTP 429" },
    },
    {
      result: unreachable,
      attempt: 2,
      random: 0.5,
      decision: { kind: "retry", delayMs: 2_000, error: "ECONNREFUSED" },
    },
  ])(
    "attempt $attempt answered $result → $decision.kind",
    ({ result, attempt, random, decision }) => {
      expect(decideAfterAttempt(result, attempt, policy, random)).toEqual(decision);
    },
  );

  it("defaults to 5 s doubling up to an hour", () => {
    expect(decideAfterAttempt(answered(500), 1, DEFAULT_WEBHOOK_RETRY, 0.5)).toMatchObject({
      delayMs: 5_000,
    });
    expect(decideAfterAttempt(answered(500), 40, DEFAULT_WEBHOOK_RETRY, 0.5)).toMatchObject({
      delayMs: 3_600_000,
    });
  });
});

describe("topics", () => {
  it.each([
    ["run.failed", "run.failed", true],
    ["run.*", "run.failed", true],
    ["*.failed", "compensation.failed", true],
    ["order.*", "order.placed", true],
    ["order.*", "order.placed.eu", false],
    ["order.*", "order", false],
    ["*", "order", true],
    ["*", "order.placed.eu", true],
    ["run.failed", "run.completed", false],
  ])("%s matches %s: %s", (pattern, topic, expected) => {
    expect(topicMatcher([pattern])(topic)).toBe(expected);
  });

  it.each([
    "",
    "Order.placed",
    "order..placed",
    ".order",
    "order.",
    "order placed",
    "ord*er",
    "a".repeat(101),
    "a,b",
    " run.failed",
  ])("refuses the pattern %j", (pattern) => {
    expect(() => checkTopicPattern(pattern)).toThrow(
      expect.objectContaining({ code: "INVALID_TOPIC" }),
    );
  });
});

describe("subscription input", () => {
  it("accepts http and https URLs and refuses the rest with INVALID_URL", () => {
    expect(checkUrl("https://hooks.example.com/in?x=1")).toBe("https://hooks.example.com/in?x=1");
    expect(checkUrl("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080/");
    for (const url of [
      "",
      "hooks.example.com",
      "ftp://h/x",
      "javascript:alert(1)",
      "file:///etc/passwd",
      "http://u:p@h/",
    ]) {
      expect(() => checkUrl(url), url).toThrow(expect.objectContaining({ code: "INVALID_URL" }));
    }
  });

  it("refuses no topics and bad patterns with INVALID_TOPIC, and drops repeats", () => {
    expect(checkTopics(["run.*", "run.*", "order.placed"])).toEqual(["run.*", "order.placed"]);
    expect(() => checkTopics([])).toThrow(expect.objectContaining({ code: "INVALID_TOPIC" }));
    expect(() => checkTopics(["ok", "Not OK"])).toThrow(
      expect.objectContaining({ code: "INVALID_TOPIC" }),
    );
  });

  it("takes whsec_ secrets of 24 to 64 bytes and refuses others with INVALID_SECRET", () => {
    const of = (bytes: number) => `whsec_${Buffer.alloc(bytes, 3).toString("base64")}`;
    expect(checkSecret(of(24))).toBe(of(24));
    expect(checkSecret(of(64))).toBe(of(64));
    for (const secret of [
      of(23),
      of(65),
      "whsec_",
      "whsec_!!!",
      Buffer.alloc(32).toString("base64"),
    ]) {
      expect(() => checkSecret(secret), secret).toThrow(
        expect.objectContaining({ code: "INVALID_SECRET" }),
      );
    }
  });
});

describe("planDeliveries", () => {
  const subscription = (
    id: string,
    topics: string[],
    afterEventId: number,
  ): SubscriptionRecord => ({
    subscriptionId: id,
    topics,
    url: "http://h/",
    secret: "whsec_x",
    createdAt: 0,
    afterEventId,
  });
  const event = (position: number, topic: string) => ({
    position,
    event: { id: `e-${position}`, topic, at: 1_000, data: { position } },
  });

  it("makes one delivery per matching subscription made before the event", () => {
    const subscriptions = [
      subscription("a", ["run.*"], 0),
      subscription("b", ["run.failed"], 0),
      subscription("late", ["run.*"], 2),
    ];
    const planned = planDeliveries(
      [event(1, "run.failed"), event(2, "run.completed"), event(3, "run.failed")],
      subscriptions,
      5,
    );
    expect(planned.map((d) => [d.subscriptionId, d.eventId, d.eventKey])).toEqual([
      ["a", 1, "e-1"],
      ["b", 1, "e-1"],
      ["a", 2, "e-2"],
      ["a", 3, "e-3"],
      ["b", 3, "e-3"],
      ["late", 3, "e-3"],
    ]);
    expect(JSON.parse(planned[0]!.payload)).toEqual({
      id: "e-1",
      type: "run.failed",
      timestamp: new Date(1_000).toISOString(),
      data: { position: 1 },
    });
  });

  it("reads from the cursor, or past it when no subscription wants what lies between", () => {
    expect(readFrom(10, [subscription("a", ["x"], 3)])).toBe(10);
    expect(readFrom(10, [subscription("a", ["x"], 30), subscription("b", ["x"], 20)])).toBe(20);
  });
});

describe("parseRetryAfter", () => {
  it.each([
    ["120", 0, 120_000],
    [new Date(5_000).toUTCString(), 1_000, 4_000],
    ["soon", 0, undefined],
  ])("%s → %s", (value, now, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
