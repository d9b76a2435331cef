import { afterEach, describe, expect, it } from "vitest";
import { schedule, workflow, type Baton, type BatonError, type Schedule } from "../../src/index.js";
import { SqliteStore } from "../../src/store/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

const T0 = Date.UTC(2026, 0, 1);
const S = 1_000;
const iso = (ms: number): string => new Date(ms).toISOString();

/** Waits for the "done" signal: a run that stays going until the test says so. */
const report = workflow("report", async (ctx, input: { kind: string }) => {
  await ctx.waitForSignal("done");
  return input;
});
const quick = workflow("quick", async (_ctx, input: { kind: string }) => input);

async function runIds(baton: Baton, prefix: string): Promise<string[]> {
  const { runs } = await baton.list({ runIdPrefix: prefix, limit: 200 });
  return runs.map((r) => r.runId).sort();
}

async function waitForSchedule(
  baton: Baton,
  name: string,
  holds: (s: Schedule) => boolean,
  what: string,
): Promise<Schedule> {
  return waitFor(
    async () => {
      const s = await baton.schedules.get(name);
      return holds(s) && s;
    },
    { what },
  );
}

describe("schedules (ManualClock, SQLite)", () => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("starts one run per tick with run id {schedule}:{tick ISO}, and lists the next five ticks", async () => {
    const clock = new ManualClock(T0);
    const every10s = schedule("every10s", {
      cron: "*/10 * * * * *",
      workflow: quick,
      input: { kind: "tick" },
      overlap: "allow",
    });
    const baton = await fixture.open({
      db: fixture.db(),
      clock,
      workflows: [quick],
      schedules: [every10s],
    });
    const view = await baton.schedules.get("every10s");
    expect(view).toMatchObject({
      source: "code",
      paused: false,
      overlap: "allow",
      catchup: "latest",
    });
    expect(view.nextFireTimes).toEqual([10, 20, 30, 40, 50].map((n) => iso(T0 + n * S)));
    for (let n = 1; n <= 3; n++) {
      clock.advance(10 * S);
      await waitFor(async () => (await runIds(baton, "every10s:")).length === n, {
        what: `run of tick ${n}`,
      });
    }
    expect(await runIds(baton, "every10s:")).toEqual(
      [10, 20, 30].map((n) => `every10s:${iso(T0 + n * S)}`),
    );
    expect(await baton.result(`every10s:${iso(T0 + 10 * S)}`)).toEqual({ kind: "tick" });
    await baton.result(`every10s:${iso(T0 + 30 * S)}`);
    const after = await waitForSchedule(
      baton,
      "every10s",
      (s) => s.lastRuns.length === 3,
      "last runs",
    );
    expect(after).toMatchObject({ firedCount: 3, skippedCount: 0, lastTickAt: iso(T0 + 30 * S) });
    expect(after.lastRuns[0]).toMatchObject({
      runId: `every10s:${iso(T0 + 30 * S)}`,
      status: "completed",
    });
  });

  it("skips a tick while the previous run is not terminal (overlap skip), and records it", async () => {
    const clock = new ManualClock(T0);
    const baton = await fixture.open({
      db: fixture.db(),
      clock,
      workflows: [report],
      schedules: [
        schedule("nightly", { cron: "*/10 * * * * *", workflow: report, input: { kind: "x" } }),
      ],
    });
    const first = `nightly:${iso(T0 + 10 * S)}`;
    clock.advance(10 * S);
    await waitFor(async () => (await runIds(baton, "nightly:")).length === 1, {
      what: "first run",
    });
    clock.advance(10 * S);
    const skipped = await waitForSchedule(baton, "nightly", (s) => s.skippedCount === 1, "a skip");
    expect(skipped).toMatchObject({
      lastSkippedAt: iso(T0 + 20 * S),
      lastSkipReason: "overlap",
      firedCount: 1,
      lastRunId: first,
    });
    expect(await runIds(baton, "nightly:")).toEqual([first]);
    await baton.signal(first, "done");
    await baton.result(first);
    clock.advance(10 * S);
    await waitFor(async () => (await runIds(baton, "nightly:")).length === 2, {
      what: "third tick",
    });
    expect(await runIds(baton, "nightly:")).toEqual([first, `nightly:${iso(T0 + 30 * S)}`]);
  });

  describe.each([
    // Down from T0 to T0+67 s: ticks +10 … +60 were missed (the newest 7 s late, past LATE_AFTER_MS).
    { catchup: "none", fired: [], skipped: 6 },
    { catchup: "latest", fired: [60], skipped: 5 },
    { catchup: "all", fired: [10, 20, 30, 40, 50, 60], skipped: 0 },
  ] as const)("after downtime, catchup $catchup", ({ catchup, fired, skipped }) => {
    it(`fires ${fired.length} missed ticks and skips ${skipped}`, async () => {
      const clock = new ManualClock(T0);
      const db = fixture.db();
      const options = {
        db,
        clock,
        workflows: [quick],
        schedules: [
          schedule("catchup", {
            cron: "*/10 * * * * *",
            workflow: quick,
            input: { kind: catchup },
            overlap: "allow",
            catchup,
          }),
        ],
      };
      const before = await fixture.open(options);
      await before.close();
      clock.advance(67 * S);
      const baton = await fixture.open(options);
      const after = await waitForSchedule(
        baton,
        "catchup",
        (s) => s.firedCount + s.skippedCount === 6,
        "the missed ticks decided",
      );
      expect(after).toMatchObject({ firedCount: fired.length, skippedCount: skipped });
      expect(after.nextFireTimes[0]).toBe(iso(T0 + 70 * S));
      await waitFor(async () => (await runIds(baton, "catchup:")).length === fired.length, {
        what: "the fired runs",
      });
      expect(await runIds(baton, "catchup:")).toEqual(
        fired.map((n) => `catchup:${iso(T0 + n * S)}`),
      );
      clock.advance(3 * S);
      await waitFor(async () => (await runIds(baton, "catchup:")).length === fired.length + 1, {
        what: "the next tick on time",
      });
    });
  });

  it("starts the runs of ticks a node decided but died before starting, once they are stale", async () => {
    const db = fixture.db();
    const declared = schedule("orphaned", {
      cron: "*/10 * * * * *",
      workflow: quick,
      input: { kind: "orphaned" },
    });
    // A node decided the tick at +10 s (compare-and-set written) and died before creating its run.
    const store = new SqliteStore({ path: db.slice("sqlite:".length) });
    await store.migrate();
    await store.upsertSchedule(
      {
        name: "orphaned",
        cron: "*/10 * * * * *",
        timezone: "UTC",
        workflow: "quick",
        input: '{"kind":"orphaned"}',
        overlap: "skip",
        catchup: "latest",
        source: "code",
      },
      T0 + 10 * S,
      T0,
    );
    const decided = await store.advanceSchedule({
      name: "orphaned",
      expectedNextFireAt: T0 + 10 * S,
      nextFireAt: T0 + 20 * S,
      pendingTicks: [T0 + 10 * S],
      pendingSince: T0 + 10 * S,
      lastTickAt: T0 + 10 * S,
      lastRunId: `orphaned:${iso(T0 + 10 * S)}`,
      fired: 1,
      skipped: 0,
      lastSkippedAt: null,
      lastSkipReason: null,
      now: T0 + 10 * S,
    });
    expect(decided).toBe(true);
    await store.close();

    const clock = new ManualClock(T0 + 12 * S);
    const baton = await fixture.open({ db, clock, workflows: [quick], schedules: [declared] });
    clock.advance(4 * S); // the pending tick is now 6 s old: stale, its deciding node is gone
    const runId = `orphaned:${iso(T0 + 10 * S)}`;
    await waitFor(async () => (await runIds(baton, "orphaned:")).includes(runId), {
      what: "the orphaned tick's run",
    });
    expect(await baton.result(runId)).toEqual({ kind: "orphaned" });
    expect(await baton.schedules.get("orphaned")).toMatchObject({
      firedCount: 1,
      lastRunId: runId,
    });
  });

  it("pauses (ticks fire no run), resumes from the next tick, and triggers a run at once", async () => {
    const clock = new ManualClock(T0);
    const baton = await fixture.open({ db: fixture.db(), clock, workflows: [quick] });
    const { created } = await baton.schedules.save("api", {
      cron: "*/10 * * * * *",
      workflow: "quick",
      input: { kind: "api" },
    });
    expect(created).toBe(true);
    const paused = await baton.schedules.pause("api");
    expect(paused).toMatchObject({ paused: true, nextFireTimes: [], source: "api" });
    clock.advance(30 * S);
    const { runId } = await baton.schedules.trigger("api");
    expect(runId).toBe(`api:manual:${iso(T0 + 30 * S)}`);
    expect(await baton.result(runId)).toEqual({ kind: "api" });
    expect(await runIds(baton, "api:")).toEqual([runId]);
    const resumed = await baton.schedules.resume("api");
    expect(resumed.nextFireTimes[0]).toBe(iso(T0 + 40 * S));
    clock.advance(10 * S);
    await waitFor(async () => (await runIds(baton, "api:")).length === 2, {
      what: "tick after resume",
    });
    expect(await runIds(baton, "api:")).toEqual([`api:${iso(T0 + 40 * S)}`, runId].sort());
  });

  it("keeps a paused schedule paused when code declares it again, with the code's spec", async () => {
    const clock = new ManualClock(T0);
    const db = fixture.db();
    const declare = (cron: string) =>
      schedule("declared", { cron, workflow: quick, input: { kind: cron } });
    const first = await fixture.open({
      db,
      clock,
      workflows: [quick],
      schedules: [declare("0 3 * * *")],
    });
    await first.schedules.pause("declared");
    await first.close();
    const second = await fixture.open({
      db,
      clock,
      workflows: [quick],
      schedules: [declare("0 4 * * *")],
    });
    expect(await second.schedules.get("declared")).toMatchObject({
      cron: "0 4 * * *",
      input: { kind: "0 4 * * *" },
      paused: true,
    });
  });

  it.each([
    { options: { cron: "every day", workflow: "quick" }, code: "INVALID_CRON" },
    {
      options: { cron: "0 3 * * *", timezone: "Europe/Atlantis", workflow: "quick" },
      code: "INVALID_TIMEZONE",
    },
    { options: { cron: "0 3 * * *", workflow: "missing" }, code: "UNKNOWN_WORKFLOW" },
    {
      options: { cron: "0 3 * * *", workflow: "quick", overlap: "queue" },
      code: "INVALID_SCHEDULE",
    },
    {
      options: { cron: "0 3 * * *", workflow: "quick", catchup: "some" },
      code: "INVALID_SCHEDULE",
    },
  ])("refuses $code and stores nothing", async ({ options, code }) => {
    const baton = await fixture.open({
      db: fixture.db(),
      clock: new ManualClock(T0),
      workflows: [quick],
    });
    const error = await baton.schedules
      .save("bad", options as Parameters<Baton["schedules"]["save"]>[1])
      .then(
        () => undefined,
        (e: unknown) => e as BatonError,
      );
    expect(error?.code).toBe(code);
    expect(await baton.schedules.list()).toEqual([]);
  });

  it("refuses, before opening the database, a schedule in code naming an unknown workflow", async () => {
    const error = await fixture
      .open({
        db: fixture.db(),
        workflows: [quick],
        schedules: [schedule("orphan", { cron: "0 3 * * *", workflow: "nowhere" })],
      })
      .then(
        () => undefined,
        (e: unknown) => e as BatonError,
      );
    expect(error?.code).toBe("UNKNOWN_WORKFLOW");
    expect(() =>
      schedule("bad", { cron: "0 3 * * *", timezone: "Nowhere/City", workflow: quick }),
    ).toThrow(/not an IANA time zone/);
  });
});
