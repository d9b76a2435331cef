import { describe, expect, it } from "vitest";
import type { ScheduleAdvance, ScheduleSpec } from "./schedule-records.js";
import type { Store } from "./store.js";
import { T0 } from "./test-records.js";

function spec(fields: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return {
    name: "nightly",
    cron: "0 3 * * *",
    timezone: "UTC",
    workflow: "report",
    input: '{"full":true}',
    overlap: "skip",
    catchup: "latest",
    source: "code",
    ...fields,
  };
}

function advance(fields: Partial<ScheduleAdvance> = {}): ScheduleAdvance {
  return {
    name: "nightly",
    expectedNextFireAt: T0,
    nextFireAt: T0 + 1_000,
    pendingTicks: [T0],
    pendingSince: T0 + 5,
    lastTickAt: T0,
    lastRunId: `nightly:${new Date(T0).toISOString()}`,
    fired: 1,
    skipped: 0,
    lastSkippedAt: null,
    lastSkipReason: null,
    now: T0 + 5,
    ...fields,
  };
}

/** The schedules part of the store contract; `conformance.ts` runs it on every store. */
export function scheduleConformance(store: () => Store): void {
  describe("schedules", () => {
    it("creates a schedule, then replaces its spec keeping its ticking and paused state", async () => {
      const created = await store().upsertSchedule(spec(), T0, T0 - 10);
      expect(created.created).toBe(true);
      expect(created.schedule).toMatchObject({
        ...spec(),
        paused: false,
        nextFireAt: T0,
        pendingTicks: [],
        firedCount: 0,
        skippedCount: 0,
        createdAt: T0 - 10,
      });
      expect(await store().setSchedulePaused("nightly", true, null, T0 - 5)).toBe(true);
      const same = await store().upsertSchedule(spec({ input: null }), T0 + 99, T0 - 1);
      expect(same.created).toBe(false);
      expect(same.schedule).toMatchObject({ input: null, paused: true, nextFireAt: T0 });
      const retimed = await store().upsertSchedule(spec({ cron: "0 4 * * *" }), T0 + 99, T0);
      expect(retimed.schedule).toMatchObject({ cron: "0 4 * * *", nextFireAt: T0 + 99 });
      expect((await store().listSchedules()).map((s) => s.name)).toEqual(["nightly"]);
    });

    it("advances a tick once: a second decision on the same next_fire_at changes nothing", async () => {
      await store().upsertSchedule(spec(), T0, T0 - 10);
      expect(await store().advanceSchedule(advance())).toBe(true);
      expect(await store().advanceSchedule(advance({ lastRunId: "other", fired: 5 }))).toBe(false);
      expect(await store().findSchedule("nightly")).toMatchObject({
        nextFireAt: T0 + 1_000,
        pendingTicks: [T0],
        pendingSince: T0 + 5,
        lastTickAt: T0,
        lastRunId: `nightly:${new Date(T0).toISOString()}`,
        firedCount: 1,
      });
    });

    it("records skipped ticks and keeps the last run when a decision fires none", async () => {
      await store().upsertSchedule(spec(), T0, T0 - 10);
      await store().advanceSchedule(advance());
      const skip = advance({
        expectedNextFireAt: T0 + 1_000,
        nextFireAt: T0 + 2_000,
        pendingTicks: [T0],
        pendingSince: T0 + 5,
        lastTickAt: null,
        lastRunId: null,
        fired: 0,
        skipped: 2,
        lastSkippedAt: T0 + 1_000,
        lastSkipReason: "overlap",
      });
      expect(await store().advanceSchedule(skip)).toBe(true);
      expect(await store().findSchedule("nightly")).toMatchObject({
        nextFireAt: T0 + 2_000,
        lastTickAt: T0,
        firedCount: 1,
        skippedCount: 2,
        lastSkippedAt: T0 + 1_000,
        lastSkipReason: "overlap",
        pendingTicks: [T0],
      });
    });

    it("settles pending ticks only for the decision that set them", async () => {
      await store().upsertSchedule(spec(), T0, T0 - 10);
      await store().advanceSchedule(advance());
      await store().settleScheduleTicks("nightly", T0 + 4);
      expect((await store().findSchedule("nightly"))?.pendingTicks).toEqual([T0]);
      await store().settleScheduleTicks("nightly", T0 + 5);
      expect(await store().findSchedule("nightly")).toMatchObject({
        pendingTicks: [],
        pendingSince: null,
      });
    });

    it("decides nothing while paused; resuming sets the next tick", async () => {
      await store().upsertSchedule(spec(), T0, T0 - 10);
      expect(await store().setSchedulePaused("nightly", true, null, T0)).toBe(true);
      expect(await store().advanceSchedule(advance())).toBe(false);
      expect(await store().setSchedulePaused("nightly", false, T0 + 7_000, T0 + 1)).toBe(true);
      expect(await store().findSchedule("nightly")).toMatchObject({
        paused: false,
        nextFireAt: T0 + 7_000,
      });
      expect(await store().setSchedulePaused("missing", true, null, T0)).toBe(false);
    });

    it("deletes a schedule", async () => {
      await store().upsertSchedule(spec(), T0, T0 - 10);
      expect(await store().deleteSchedule("nightly")).toBe(true);
      expect(await store().deleteSchedule("nightly")).toBe(false);
      expect(await store().findSchedule("nightly")).toBeUndefined();
      expect(await store().listSchedules()).toEqual([]);
    });
  });
}
