import { describe, expect, it } from "vitest";
import type { Run, StepView } from "../common/index.js";
import { Style } from "./terminal.js";
import { renderTimeline } from "./timeline.js";

const plain = new Style({ write: () => true, isTTY: false });
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number): string => new Date(T0 + ms).toISOString();

function step(
  seq: number,
  name: string,
  from: number,
  to: number,
  extra: Partial<StepView> = {},
): StepView {
  return {
    seq,
    kind: "call",
    name,
    status: "completed",
    attempts: 1,
    startedAt: at(from),
    endedAt: at(to),
    ...extra,
  };
}

function aRun(steps: StepView[], endMs: number, status: Run["status"] = "compensated"): Run {
  return {
    runId: "o-1",
    workflow: "placeOrder",
    status,
    input: {},
    createdAt: at(0),
    updatedAt: at(endMs),
    steps,
    version: 1,
  };
}

describe("renderTimeline", () => {
  it("draws each step as a bar where it ran on the run's time axis, compensations marked", () => {
    const run = aRun(
      [
        step(1, "reserve", 0, 100),
        step(2, "charge", 100, 300),
        step(3, "refund", 300, 400, { compensates: 2 }),
      ],
      400,
    );
    const lines = renderTimeline(run, { width: 20, now: T0 + 400, style: plain });
    expect(lines[0]).toMatch(/^timeline\s+0 ─+ 400 ms$/);
    expect(lines.slice(1).map((line) => line.replace(/^(.{28})/, "$1|"))).toEqual([
      "    1 reserve               |█████",
      "    2 charge                |     ██████████",
      "↺   3 refund                |               █████",
    ]);
  });

  it("keeps a bar of at least one column for instant steps and never draws past the axis", () => {
    const run = aRun([step(1, "instant", 0, 0), step(2, "late", 1_000, 1_000)], 1_000);
    const bars = renderTimeline(run, { width: 10, now: T0 + 1_000, style: plain })
      .slice(1)
      .map((line) => line.slice(28));
    expect(bars).toEqual(["█", "         █"]);
  });

  it("runs the axis to now for a run still going, and shades waits", () => {
    const sleeping = step(2, "sleep", 100, 0, { kind: "sleep", status: "waiting" });
    delete sleeping.endedAt;
    const run = aRun([step(1, "reserve", 0, 100), sleeping], 100, "waiting");
    const lines = renderTimeline(run, { width: 10, now: T0 + 1_000, style: plain });
    expect(lines[0]).toMatch(/1\.00 s$/);
    expect(lines[2]?.slice(28)).toBe(" ░░░░░░░░░");
  });
});
