import { describe, expect, it } from "vitest";
import { parseTagFilter, parseTimeBound, validateTags } from "./tags.js";

const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, `v${i}`]));

describe("validateTags", () => {
  it.each([
    { tags: {}, why: "none" },
    { tags: { customer: "c-17" }, why: "one" },
    { tags: { "team/app.env_1-x": "" }, why: "a key of every allowed character, an empty value" },
    { tags: sixteen, why: "sixteen" },
    { tags: { k: "v".repeat(256), ["k".repeat(64)]: "v" }, why: "the longest key and value" },
  ])("accepts $why", ({ tags }) => {
    expect(validateTags(tags)).toEqual(tags);
  });

  it.each([
    { tags: null, message: "tags must be an object" },
    { tags: ["a"], message: "got an array" },
    { tags: "customer=c-17", message: "got string" },
    { tags: { ...sixteen, k16: "v" }, message: "at most 16 tags, got 17" },
    { tags: { customer: 17 }, message: "tag customer: the value must be a string, got number" },
    { tags: { "cust:omer": "x" }, message: 'tag key "cust:omer" is invalid' },
    { tags: { "": "x" }, message: 'tag key "" is invalid' },
    { tags: { ["k".repeat(65)]: "x" }, message: "is invalid: use 1–64 characters" },
    { tags: { k: "v".repeat(257) }, message: "tag k: the value has 257 characters, at most 256" },
  ])("refuses $tags with INVALID_TAGS: $message", ({ tags, message }) => {
    expect(() => validateTags(tags)).toThrow(
      expect.objectContaining({
        code: "INVALID_TAGS",
        message: expect.stringContaining(message) as string,
      }) as Error,
    );
  });
});

describe("parseTagFilter", () => {
  it.each([
    ["customer:c-17", { key: "customer", value: "c-17" }],
    ["url:http://x:1", { key: "url", value: "http://x:1" }],
    ["empty:", { key: "empty", value: "" }],
  ])("%s", (text, filter) => {
    expect(parseTagFilter(text)).toEqual(filter);
  });

  it.each(["customer", ":c-17", "a b:c", `k:${"v".repeat(257)}`])(
    "refuses %j with INVALID_FILTER",
    (text) => {
      expect(() => parseTagFilter(text)).toThrow(
        expect.objectContaining({ code: "INVALID_FILTER" }) as Error,
      );
    },
  );
});

describe("parseTimeBound", () => {
  it("reads ISO 8601 times", () => {
    expect(parseTimeBound("createdAfter", "2026-01-31T12:00:00Z")).toBe(Date.UTC(2026, 0, 31, 12));
    expect(parseTimeBound("createdAfter", "2026-01-31")).toBe(Date.UTC(2026, 0, 31));
  });

  it.each(["yesterday", "1700000000000", "2026-13-45", ""])("refuses %j", (text) => {
    expect(() => parseTimeBound("createdBefore", text)).toThrow(
      expect.objectContaining({
        code: "INVALID_FILTER",
        message: expect.stringContaining("createdBefore") as string,
      }) as Error,
    );
  });
});
