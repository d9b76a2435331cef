import { describe, expect, it } from "vitest";
import { workflow } from "./definitions.js";
import { DEFAULT_RETENTION_MS, deleteAfter, nextSweepAt, retentionOf } from "./retention.js";

const DAY = 86_400_000;

describe("retentionOf", () => {
  it.each([
    { own: undefined, node: DAY, expected: DAY, why: "the node's when the workflow says nothing" },
    { own: "1h", node: DAY, expected: 3_600_000, why: "the workflow's own over the node's" },
    {
      own: 0,
      node: DAY,
      expected: 0,
      why: "0 on the workflow keeps its runs though the node's is set",
    },
    {
      own: "30d",
      node: 0,
      expected: 30 * DAY,
      why: "the workflow's own though the node keeps forever",
    },
  ])("$why", ({ own, node, expected }) => {
    const definition = workflow("w", async () => 1, own === undefined ? {} : { retention: own });
    expect(retentionOf(definition, node)).toBe(expected);
  });

  it("is the node's for a workflow no longer deployed", () => {
    expect(retentionOf(undefined, DEFAULT_RETENTION_MS)).toBe(30 * DAY);
  });
});

describe("deleteAfter", () => {
  it.each([
    { endedAt: 1_000, retention: DAY, expected: 1_000 + DAY },
    { endedAt: 1_000, retention: 0, expected: null },
  ])("a run ended at $endedAt with retention $retention", ({ endedAt, retention, expected }) => {
    expect(deleteAfter(endedAt, retention)).toBe(expected);
  });
});

describe("nextSweepAt", () => {
  const now = 10_000;
  it.each([
    { batchWasFull: true, nextExpiry: undefined, expected: now, why: "a full batch: more are due" },
    {
      batchWasFull: false,
      nextExpiry: undefined,
      expected: undefined,
      why: "nothing expires: sleep",
    },
    { batchWasFull: false, nextExpiry: now + 5, expected: now + 5, why: "the next expiry ahead" },
    {
      batchWasFull: false,
      nextExpiry: now - 5,
      expected: now + 60_000,
      why: "due runs that could not go (a child whose parent lives): look again later",
    },
  ])("$why", ({ batchWasFull, nextExpiry, expected }) => {
    expect(nextSweepAt({ now, batchWasFull, nextExpiry, recheckMs: 60_000 })).toBe(expected);
  });

  it.each([
    { nextExpiry: undefined, expected: now + 900_000, why: "nothing expires: look again anyway" },
    { nextExpiry: now + 5, expected: now + 5, why: "the next expiry, sooner than the idle look" },
    { nextExpiry: now + 86_400_000, expected: now + 900_000, why: "no later than the idle look" },
  ])("several nodes: $why", ({ nextExpiry, expected }) => {
    expect(
      nextSweepAt({
        now,
        batchWasFull: false,
        nextExpiry,
        recheckMs: 60_000,
        idleRecheckMs: 900_000,
      }),
    ).toBe(expected);
  });
});
