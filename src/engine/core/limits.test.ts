import { describe, expect, it } from "vitest";
import {
  DEFAULT_LIMITS,
  invalidLimit,
  isHistoryOverLimit,
  isTextOverLimit,
  isValueOverLimit,
  mayKeepSignal,
  resolveLimits,
  utf8Length,
} from "./limits.js";

describe("limits: what is over a limit", () => {
  it.each([
    { length: 9_999, limit: 10_000, isStopping: false, over: false },
    { length: 10_000, limit: 10_000, isStopping: false, over: true },
    { length: 12_000, limit: 10_000, isStopping: false, over: true },
    // A rollback under way is never cut short by the limit it was started by.
    { length: 10_050, limit: 10_000, isStopping: true, over: false },
  ])("history of $length entries, limit $limit, stopping $isStopping → $over", (row) => {
    expect(isHistoryOverLimit(row.length, row.limit, row.isStopping)).toBe(row.over);
  });

  it.each([
    { text: "", limit: 1, over: false },
    { text: "abc", limit: 3, over: false },
    { text: "abcd", limit: 3, over: true },
    { text: "é", limit: 1, over: true }, // 2 bytes in UTF-8
    { text: "é", limit: 2, over: false },
    { text: "€", limit: 2, over: true }, // 3 bytes
    { text: "😀", limit: 3, over: true }, // a surrogate pair: 4 bytes
    { text: "😀", limit: 4, over: false },
    { text: "x".repeat(1_048_576), limit: 1_048_576, over: false },
    { text: "x".repeat(1_048_577), limit: 1_048_576, over: true },
  ])("text of $text.length units, limit $limit bytes → $over", ({ text, limit, over }) => {
    expect(isTextOverLimit(text, limit)).toBe(over);
  });

  it.each([
    { text: "a", bytes: 1 },
    { text: "é", bytes: 2 },
    { text: "€", bytes: 3 },
    { text: "😀", bytes: 4 },
    { text: "a😀é", bytes: 7 },
  ])("utf8Length($text) = $bytes", ({ text, bytes }) => {
    expect(utf8Length(text)).toBe(bytes);
    expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
  });

  it.each([
    { value: undefined, limit: 1, over: false },
    { value: null, limit: 4, over: false },
    { value: { a: "xx" }, limit: 10, over: false }, // {"a":"xx"} is 10 bytes
    { value: { a: "xxx" }, limit: 10, over: true },
  ])("value $value, limit $limit → $over", ({ value, limit, over }) => {
    expect(isValueOverLimit(value, limit)).toBe(over);
  });

  it.each([
    { pending: 0, limit: 1, may: true },
    { pending: 999, limit: 1_000, may: true },
    { pending: 1_000, limit: 1_000, may: false },
  ])("signal with $pending pending, limit $limit → kept: $may", ({ pending, limit, may }) => {
    expect(mayKeepSignal(pending, limit)).toBe(may);
  });
});

describe("limits: which apply", () => {
  it.each([
    { server: undefined, workflow: undefined, expected: DEFAULT_LIMITS },
    {
      server: { maxHistory: 500 },
      workflow: undefined,
      expected: { ...DEFAULT_LIMITS, maxHistory: 500 },
    },
    {
      server: { maxHistory: 500, maxSignals: 10 },
      workflow: { maxHistory: 50 },
      expected: { ...DEFAULT_LIMITS, maxHistory: 50, maxSignals: 10 },
    },
  ])("server $server, workflow $workflow", ({ server, workflow, expected }) => {
    expect(resolveLimits(server, workflow)).toEqual(expected);
  });

  it.each([
    { value: undefined, ok: true },
    { value: 1, ok: true },
    { value: 0, ok: false },
    { value: -5, ok: false },
    { value: 1.5, ok: false },
    { value: "10", ok: false },
  ])("limit value $value is valid: $ok", ({ value, ok }) => {
    expect(invalidLimit("maxHistory", value) === undefined).toBe(ok);
  });
});
