import { describe, expect, it } from "vitest";
import type { ScheduleCatchup, ScheduleOverlap } from "../../common/index.js";
import { LATE_AFTER_MS, decideTicks, manualRunId, tickRunId } from "./tick-decision.js";

const S = 1_000;
const NOW = Date.UTC(2026, 11, 7, 3, 0, 0);
/** Ticks every 10 s up to now: the three oldest are late (missed), the newest two on time. */
const late = (n: number): number => NOW - LATE_AFTER_MS - 1 - n * 10 * S;
const DOWNTIME = [late(2), late(1), late(0), NOW - 4 * S, NOW];
const ON_TIME = [NOW];

const missed = (tick: number) => ({ tick, reason: "missed" });
const overlap = (tick: number) => ({ tick, reason: "overlap" });

interface Row {
  catchup: ScheduleCatchup;
  overlap: ScheduleOverlap;
  due: number[];
  previousRunActive: boolean;
  fire: number[];
  skipped: Array<{ tick: number; reason: string }>;
}

const rows: Row[] = [
  // One tick on time: fires under every policy, unless the previous run is going and overlap skips.
  ...(["none", "latest", "all"] as const).flatMap((catchup): Row[] => [
    {
      catchup,
      overlap: "allow",
      due: ON_TIME,
      previousRunActive: false,
      fire: ON_TIME,
      skipped: [],
    },
    {
      catchup,
      overlap: "allow",
      due: ON_TIME,
      previousRunActive: true,
      fire: ON_TIME,
      skipped: [],
    },
    {
      catchup,
      overlap: "skip",
      due: ON_TIME,
      previousRunActive: false,
      fire: ON_TIME,
      skipped: [],
    },
    {
      catchup,
      overlap: "skip",
      due: ON_TIME,
      previousRunActive: true,
      fire: [],
      skipped: [overlap(NOW)],
    },
    { catchup, overlap: "skip", due: [], previousRunActive: false, fire: [], skipped: [] },
  ]),
  // After downtime: none fires the on-time ticks only, latest the newest, all every one.
  {
    catchup: "none",
    overlap: "allow",
    due: DOWNTIME,
    previousRunActive: false,
    fire: [NOW - 4 * S, NOW],
    skipped: [missed(late(2)), missed(late(1)), missed(late(0))],
  },
  {
    catchup: "none",
    overlap: "allow",
    due: [late(1), late(0)],
    previousRunActive: false,
    fire: [],
    skipped: [missed(late(1)), missed(late(0))],
  },
  {
    catchup: "latest",
    overlap: "allow",
    due: DOWNTIME,
    previousRunActive: false,
    fire: [NOW],
    skipped: [missed(late(2)), missed(late(1)), missed(late(0)), missed(NOW - 4 * S)],
  },
  {
    catchup: "latest",
    overlap: "allow",
    due: [late(1), late(0)],
    previousRunActive: false,
    fire: [late(0)],
    skipped: [missed(late(1))],
  },
  {
    catchup: "all",
    overlap: "allow",
    due: DOWNTIME,
    previousRunActive: false,
    fire: DOWNTIME,
    skipped: [],
  },
  // Overlap skip after downtime: at most one fires (the oldest candidate), none while the previous runs.
  {
    catchup: "all",
    overlap: "skip",
    due: DOWNTIME,
    previousRunActive: false,
    fire: [late(2)],
    skipped: DOWNTIME.slice(1).map(overlap),
  },
  {
    catchup: "all",
    overlap: "skip",
    due: DOWNTIME,
    previousRunActive: true,
    fire: [],
    skipped: DOWNTIME.map(overlap),
  },
  {
    catchup: "latest",
    overlap: "skip",
    due: DOWNTIME,
    previousRunActive: true,
    fire: [],
    skipped: [...DOWNTIME.slice(0, 4).map(missed), overlap(NOW)],
  },
  {
    catchup: "none",
    overlap: "skip",
    due: DOWNTIME,
    previousRunActive: false,
    fire: [NOW - 4 * S],
    skipped: [missed(late(2)), missed(late(1)), missed(late(0)), overlap(NOW)],
  },
];

describe("decideTicks", () => {
  it.each(rows)(
    "catchup $catchup, overlap $overlap, $due.length due, previous run active: $previousRunActive",
    ({ fire, skipped, ...situation }) => {
      expect(decideTicks({ now: NOW, ...situation })).toEqual({ fire, skipped });
    },
  );

  it("names a tick's run by the schedule and the tick in ISO 8601 UTC, a trigger's with manual", () => {
    expect(tickRunId("nightly", Date.UTC(2026, 11, 7, 3))).toBe("nightly:2026-12-07T03:00:00.000Z");
    expect(manualRunId("nightly", Date.UTC(2026, 11, 7, 9, 15, 2, 5))).toBe(
      "nightly:manual:2026-12-07T09:15:02.005Z",
    );
  });
});
