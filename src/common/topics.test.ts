import { describe, expect, it } from "vitest";
import {
  assertEventId,
  assertUserTopic,
  emittedEventId,
  matchesWhere,
  parseTopicPatterns,
} from "./topics.js";

describe("topics", () => {
  it.each([
    { topic: "order.placed", ok: true },
    { topic: "payments.v2.settled", ok: true },
    { topic: "a_b-c.d", ok: true },
    { topic: "x".repeat(100), ok: true },
    { topic: "x".repeat(101), ok: false },
    { topic: "Order.placed", ok: false },
    { topic: "order..placed", ok: false },
    { topic: ".order", ok: false },
    { topic: "order.*", ok: false },
    { topic: "", ok: false },
    { topic: "run.failed", ok: false },
    { topic: "step.custom", ok: false },
    { topic: "compensation.x", ok: false },
    { topic: "baton", ok: false },
    { topic: "runs.failed", ok: true },
  ])("a user may publish to $topic: $ok", ({ topic, ok }) => {
    if (ok) expect(assertUserTopic(topic)).toBe(topic);
    else
      expect(() => assertUserTopic(topic)).toThrow(
        expect.objectContaining({ code: "INVALID_TOPIC" }),
      );
  });

  it.each([
    { id: "o-17", ok: true },
    { id: "order.placed:o-17", ok: true },
    { id: "a~b", ok: true },
    { id: "~12", ok: false },
    { id: "", ok: false },
    { id: "a b", ok: false },
    { id: "x".repeat(99), ok: true },
    { id: "x".repeat(100), ok: false },
  ])("event id $id is valid: $ok", ({ id, ok }) => {
    if (ok) expect(assertEventId(id)).toBe(id);
    else
      expect(() => assertEventId(id)).toThrow(
        expect.objectContaining({ code: "INVALID_EVENT_ID" }),
      );
  });

  it.each([
    { patterns: "order.*", topic: "order.placed", matches: true },
    { patterns: "order.*", topic: "order.item.added", matches: false },
    { patterns: "order.*", topic: "order", matches: false },
    { patterns: "*.failed", topic: "run.failed", matches: true },
    { patterns: "*.failed", topic: "payment.failed", matches: true },
    { patterns: "order.*.added", topic: "order.item.added", matches: true },
    { patterns: "a.b,c.d", topic: "c.d", matches: true },
    { patterns: ["a.b", "c.*"], topic: "c.x", matches: true },
    { patterns: "a.b", topic: "a.bc", matches: false },
    { patterns: "*", topic: "anything.at.all", matches: true },
    { patterns: "", topic: "run.completed", matches: true },
  ])("$patterns selects $topic: $matches", ({ patterns, topic, matches }) => {
    expect(parseTopicPatterns(patterns)(topic)).toBe(matches);
  });

  it.each(["Order.*", "order.pl*", "a..b", "order.#", "x".repeat(101)])(
    "refuses the malformed pattern %s",
    (pattern) => {
      expect(() => parseTopicPatterns(pattern)).toThrow(
        expect.objectContaining({ code: "INVALID_TOPIC" }),
      );
    },
  );

  it.each([
    { data: { orderId: "o-1", cents: 3 }, where: { orderId: "o-1" }, matches: true },
    { data: { orderId: "o-2" }, where: { orderId: "o-1" }, matches: false },
    { data: { orderId: "o-1" }, where: { orderId: "o-1", cents: 3 }, matches: false },
    { data: { n: 1 }, where: { n: "1" }, matches: false },
    { data: { tags: ["a"] }, where: { tags: ["a"] }, matches: true },
    { data: { nested: { a: 1 } }, where: { "nested.a": 1 }, matches: false },
    { data: { x: null }, where: { x: null }, matches: true },
    { data: {}, where: { x: null }, matches: false },
    { data: "text", where: { x: 1 }, matches: false },
    { data: "text", where: undefined, matches: true },
    { data: undefined, where: {}, matches: true },
  ])("data $data matches where $where: $matches", ({ data, where, matches }) => {
    expect(matchesWhere(data, where)).toBe(matches);
  });

  it("derives an emitted event's id from the run id and seq, within the id limit", () => {
    expect(emittedEventId("r-1", 3)).toBe("r-1:3");
    const long = emittedEventId("r".repeat(200), 12);
    expect(long.length).toBeLessThanOrEqual(99);
    expect(long).toBe(emittedEventId("r".repeat(200), 12));
    expect(long).not.toBe(emittedEventId(`${"r".repeat(199)}s`, 12));
    expect(() => assertEventId(long)).not.toThrow();
  });
});
