import { describe, expect, it } from "vitest";
import {
  BatonError,
  assertRunId,
  idempotencyKey,
  isValidRunId,
  newRunId,
  newUuid,
} from "./index.js";

describe("run ids", () => {
  it.each([
    ["one character", "a"],
    ["every allowed character", "AZaz09._-~:"],
    ["200 characters", "x".repeat(200)],
    ["a generated-looking id", "run-m0x1-4f2a9c1b3d7e"],
    ["a child id", "order-1:3"],
    ["only punctuation", "._-~:"],
  ])("accepts %s", (_label, runId) => {
    expect(isValidRunId(runId)).toBe(true);
    expect(assertRunId(runId)).toBe(runId);
  });

  it.each([
    ["the empty string", ""],
    ["201 characters", "x".repeat(201)],
    ["a space", "a b"],
    ["a slash", "a/b"],
    ["a percent sign", "a%b"],
    ["a question mark", "a?b"],
    ["a non-ASCII letter", "café"],
    ["a trailing newline", "abc\n"],
    ["a leading newline", "\nabc"],
  ])("refuses %s", (_label, runId) => {
    expect(isValidRunId(runId)).toBe(false);
  });

  it.each([42, null, undefined, {}, ["a"]])("refuses the non-string %j", (runId) => {
    expect(isValidRunId(runId)).toBe(false);
  });

  it("throws INVALID_RUN_ID naming the id it refused", () => {
    let error: unknown;
    try {
      assertRunId("no spaces");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BatonError);
    expect(error).toMatchObject({
      code: "INVALID_RUN_ID",
      name: "ValidationError",
      retryable: false,
    });
    expect((error as Error).message).toContain('"no spaces"');
  });

  it("generates valid, distinct run ids", () => {
    const ids = Array.from({ length: 50 }, () => newRunId(Date.UTC(2026, 0, 1)));
    for (const id of ids) expect(isValidRunId(id)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("generates v4 UUIDs", () => {
    expect(newUuid()).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("builds the idempotency key as {runId}:{seq}", () => {
    expect(idempotencyKey("order-1", 3)).toBe("order-1:3");
  });
});
