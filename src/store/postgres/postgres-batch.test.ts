import { describe, expect, it } from "vitest";
import type { WriteOp } from "../index.js";
import { planSegments, segmentParams } from "./postgres-batch.js";
import { NEW_RUNS, WAKES } from "./postgres-commit-sql.js";
import { T0, newRun } from "../test-records.js";

function append(
  runId: string,
  fields: Partial<Extract<WriteOp, { type: "appendRun" }>> = {},
): WriteOp {
  return {
    type: "appendRun",
    runId,
    epoch: 0,
    expectedLength: 1,
    entries: [],
    update: { status: "running", updatedAt: T0, wakeAt: null, waitingOn: null },
    ...fields,
  };
}

function signal(runId: string): WriteOp {
  return { type: "insertSignal", runId, name: "go", payload: null, sentAt: T0 };
}

/** The parameter arrays of one source, by column position, from a segment's values. */
function column(
  values: unknown[],
  source: { nextParam: number },
  width: number,
  index: number,
): unknown[] {
  return values[source.nextParam - width - 1 + index] as unknown[];
}

describe("planSegments", () => {
  it("keeps a batch that writes each run once in one segment", () => {
    const segments = planSegments([
      { type: "createRun", run: newRun("new") },
      append("a", { wakeRuns: ["p"], enqueueTasks: [] }),
      append("b", { wakeRuns: ["p"] }),
      signal("p"),
      signal("p"),
    ]);
    expect(segments).toHaveLength(1);
  });

  it("starts a new segment where a run is touched again, so the batch applies in order", () => {
    const sizes = (ops: WriteOp[]): number[] => planSegments(ops).map((s) => s.parts.length);
    expect(sizes([signal("a"), append("a")])).toEqual([1, 1]);
    expect(sizes([append("a"), signal("a")])).toEqual([1, 1]);
    expect(
      sizes([
        { type: "createRun", run: newRun("a") },
        { type: "createRun", run: newRun("a") },
      ]),
    ).toEqual([1, 1]);
    expect(sizes([append("a", { createRuns: [newRun("a:1")], wakeRuns: ["a"] })])).toEqual([2, 1]);
    expect(
      sizes([
        append("a", { consumedSignals: [{ signalId: 1, seq: 1 }] }),
        append("b", { consumedSignals: [{ signalId: 1, seq: 1 }] }),
      ]),
    ).toEqual([1, 1]);
  });
});

describe("segmentParams", () => {
  it("gates parts on an append of the same segment, drops them after a failed one and frees them after a successful one", () => {
    const op = append("a", { createRuns: [newRun("a:1")], wakeRuns: ["a"] });
    const [first, second] = planSegments([op]);
    const gate = (values: unknown[]): unknown[] => column(values, NEW_RUNS, 10, 0);
    expect(gate(segmentParams(first!, new Map()).values)).toEqual([0]);
    const wakes = (settled: Map<number, boolean>): unknown[] =>
      column(segmentParams(second!, settled).values, WAKES, 3, 1);
    expect(wakes(new Map([[0, true]]))).toEqual(["a"]);
    expect(wakes(new Map([[0, false]]))).toEqual([]);
  });
});
