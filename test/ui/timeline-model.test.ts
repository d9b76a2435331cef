import { describe, expect, it } from "vitest";
import type { HistoryEvent, Run, StepView } from "../../src/client/index.js";
import { buildPath, stagesOf } from "../../ui/src/lib/path-model.js";
import { axisTicks, buildTimeline } from "../../ui/src/lib/timeline-model.js";

/** What the run page draws, from a Run and its journal: no browser needed. */

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number): string => new Date(T0 + ms).toISOString();

function step(
  seq: number,
  name: string,
  from: number,
  to: number | undefined,
  extra: Partial<StepView> = {},
): StepView {
  return {
    seq,
    kind: "call",
    name,
    status: to === undefined ? "running" : "completed",
    attempts: 1,
    startedAt: at(from),
    ...(to !== undefined ? { endedAt: at(to) } : {}),
    ...extra,
  };
}

function run(steps: StepView[], extra: Partial<Run> = {}): Run {
  return {
    runId: "r-1",
    workflow: "placeOrder",
    status: "completed",
    input: null,
    createdAt: at(0),
    updatedAt: at(100),
    steps,
    version: 1,
    ...extra,
  };
}

describe("the timeline model", () => {
  it("puts compensations in their own lane, naming the step each undoes", () => {
    const timeline = buildTimeline(
      run(
        [
          step(1, "inventory.reserve", 1, 2),
          step(2, "payments.charge", 2, 3),
          step(3, "shipping.ship", 3, 4, { status: "failed" }),
          step(4, "payments.refund", 5, 6, { compensates: 2 }),
          step(5, "inventory.release", 6, 7, { compensates: 1 }),
        ],
        { status: "compensated", updatedAt: at(8) },
      ),
      [
        { position: 0, type: "run.started", at: at(0) },
        { position: 4, type: "run.compensating", at: at(4) },
        { position: 7, type: "run.compensated", at: at(8) },
      ],
      T0 + 1000,
    );
    expect(timeline.rows.map((r) => r.name)).toEqual([
      "inventory.reserve",
      "payments.charge",
      "shipping.ship",
    ]);
    expect(timeline.compensations.map((r) => [r.name, r.compensatesName])).toEqual([
      ["payments.refund", "payments.charge"],
      ["inventory.release", "inventory.reserve"],
    ]);
    expect(timeline.rows[2]!.outcome).toBe("failed");
    expect(timeline.markers.map((m) => m.label)).toEqual(["compensating", "compensated"]);
    // A terminal run's axis ends with the run, not with the clock.
    expect(timeline.end).toBe(T0 + 8);
  });

  it("marks failed attempts, their backoff, and a failure that a retry of the run set aside", () => {
    const history: HistoryEvent[] = [
      { position: 0, type: "run.started", at: at(0) },
      {
        position: 1,
        type: "call.attempt_failed",
        seq: 1,
        at: at(2),
        data: { attempt: 1, error: { code: "TRANSIENT", message: "busy" }, retryAt: T0 + 5 },
      },
      {
        position: 2,
        type: "call.failed",
        seq: 1,
        at: at(7),
        data: { error: { code: "TRANSIENT", message: "busy" }, attempts: 2 },
      },
      { position: 3, type: "run.failed", at: at(7) },
      { position: 4, type: "run.retried", at: at(50), data: { voidSeqs: [1] } },
      {
        position: 5,
        type: "call.completed",
        seq: 1,
        at: at(52),
        data: { attempts: 3, startedAt: T0 + 51 },
      },
      { position: 6, type: "run.completed", at: at(52) },
    ];
    const timeline = buildTimeline(
      run([step(1, "payments.refund", 1, 52, { attempts: 3 })], { updatedAt: at(52) }),
      history,
      T0 + 1000,
    );
    const [refund] = timeline.rows;
    expect(refund!.failures).toEqual([
      { at: T0 + 2, attempt: 1, error: { code: "TRANSIENT", message: "busy" }, retryAt: T0 + 5 },
    ]);
    expect(refund!.voidedFailures).toHaveLength(1);
    expect(refund!.lastAttemptStart).toBe(T0 + 51);
    expect(timeline.markers.map((m) => m.type)).toEqual([
      "run.failed",
      "run.retried",
      "run.completed",
    ]);
  });

  it("runs an open step's bar to now while the run goes on", () => {
    const timeline = buildTimeline(
      run([step(1, "decision", 10, undefined, { kind: "signal", status: "waiting" })], {
        status: "waiting",
        updatedAt: at(10),
      }),
      [],
      T0 + 500,
    );
    expect(timeline.rows[0]).toMatchObject({
      isOpen: true,
      isWait: true,
      outcome: "waiting",
      end: T0 + 500,
    });
    expect(timeline.end).toBe(T0 + 500);
  });

  it("picks round axis ticks", () => {
    expect(axisTicks(10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(axisTicks(5_800)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(axisTicks(0)).toEqual([0]);
  });
});

describe("the path model", () => {
  it("stacks steps that overlap in time into one stage, and keeps sequential ones apart", () => {
    const stages = stagesOf(
      buildTimeline(
        run([
          step(1, "pick-a", 1, 20),
          step(2, "pick-b", 1, 25),
          step(3, "pick-c", 2, 30),
          step(4, "pack", 30, 40),
          step(5, "ship", 40, 41),
        ]),
        [],
        T0,
      ).rows,
    );
    expect(stages.map((stage) => stage.map((r) => r.name))).toEqual([
      ["pick-a", "pick-b", "pick-c"],
      ["pack"],
      ["ship"],
    ]);
  });

  it("draws compensations back under the steps they undo and ends the run there", () => {
    const timeline = buildTimeline(
      run(
        [
          step(1, "reserve", 1, 2),
          step(2, "charge", 2, 3),
          step(3, "ship", 3, 4, { status: "failed" }),
          step(4, "refund", 5, 6, { compensates: 2 }),
          step(5, "release", 6, 7, { compensates: 1 }),
        ],
        { status: "compensated" },
      ),
      [],
      T0,
    );
    const graph = buildPath(timeline, "compensated");
    const node = (id: string) => graph.nodes.find((n) => n.id === id)!;
    expect(node("step-4").x).toBe(node("step-2").x);
    expect(node("step-5").x).toBe(node("step-1").x);
    expect(node("step-4").y).toBeGreaterThan(node("step-2").y);
    expect(node("end")).toMatchObject({ label: "compensated", isCurrent: true });
    expect(node("end").x).toBeLessThan(node("step-5").x);
    expect(graph.nodes.every((n) => n.x >= 0 && n.x + n.width <= graph.width)).toBe(true);
    expect(graph.edges.filter((e) => e.isCompensation).map((e) => e.id)).toEqual([
      "step-3->step-4",
      "step-4->step-5",
      "step-5->end",
    ]);
  });

  it("marks the running step as the current position", () => {
    const timeline = buildTimeline(
      run([step(1, "reserve", 1, 2), step(2, "charge", 3, undefined)], { status: "running" }),
      [],
      T0 + 10,
    );
    const graph = buildPath(timeline, "running");
    expect(graph.nodes.filter((n) => n.isCurrent).map((n) => n.id)).toEqual(["step-2"]);
    expect(graph.nodes.some((n) => n.type === "end")).toBe(false);
  });
});
