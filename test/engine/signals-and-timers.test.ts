import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { BatonError } from "../../src/index.js";
import { workflow } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

const DAY = 24 * 60 * 60 * 1000;

/** The run's wake_at as its row says, read beside the engine. */
function rowWakeAt(dbUrl: string, runId: string): number | null {
  const db = new Database(dbUrl.slice("sqlite:".length), { readonly: true });
  try {
    const row = db.prepare("SELECT wake_at FROM runs WHERE run_id = ?").get(runId) as
      { wake_at: number | null } | undefined;
    return row?.wake_at ?? null;
  } finally {
    db.close();
  }
}

const approval = workflow("approval", async (ctx, input: { waitMs: number }) => {
  await ctx.step("submit", () => ({ submitted: true }));
  await ctx.sleep(input.waitMs);
  const decision = await ctx.waitForSignal<{ approved: boolean }>("decision");
  return { decision };
});

const deadline = workflow("deadline", async (ctx) => {
  try {
    return { payload: await ctx.waitForSignal("reply", { timeout: 60_000 }) };
  } catch (e) {
    return { timedOut: (e as BatonError).code };
  }
});

const napper = workflow("napper", async (ctx, input: { ms: number }) => {
  const before = ctx.now();
  await ctx.sleep(input.ms);
  return { slept: ctx.now() - before };
});

describe.each(EXECUTION_MODES)("signals and timers ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("keeps a signal sent before the run waits for it", async () => {
    const clock = new ManualClock();
    const db = fixture.db();
    const baton = await fixture.open({
      db,
      workflows: [approval],
      clock,
      replayAfterEveryOp,
    });
    await baton.start(approval, { waitMs: 5_000 }, { runId: "a-1" });
    const waiting = await waitFor(async () => {
      const run = await baton.get("a-1");
      return run.status === "waiting" && run.waitingOn?.kind === "timer" && run;
    });
    expect(waiting.waitingOn?.reason).toContain("sleeping until");
    await baton.signal("a-1", "decision", { approved: true });
    // Storing the signal marked the row due; the run keeps it for later and says again that it
    // wakes for its timer, so no scan keeps finding it due in the meantime.
    const timerDue = Date.parse(waiting.waitingOn!.until!);
    await waitFor(() => rowWakeAt(db, "a-1") === timerDue);
    clock.advance(5_000);
    expect(await baton.result("a-1")).toEqual({ decision: { approved: true } });
  });

  it("says which signal a waiting run waits for, and resumes when it arrives", async () => {
    const clock = new ManualClock();
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [approval],
      clock,
      replayAfterEveryOp,
    });
    await baton.start(approval, { waitMs: 0 }, { runId: "a-2" });
    const run = await waitFor(async () => {
      const r = await baton.get("a-2");
      return r.waitingOn?.kind === "signal" && r;
    });
    expect(run.status).toBe("waiting");
    expect(run.waitingOn).toMatchObject({ kind: "signal", signal: "decision" });
    await baton.signal("a-2", "decision", { approved: false });
    expect(await baton.result("a-2")).toEqual({ decision: { approved: false } });
  });

  it("rejects a signal wait with SIGNAL_TIMEOUT once its timeout passes, which the workflow may catch", async () => {
    const clock = new ManualClock();
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [deadline],
      clock,
      replayAfterEveryOp,
    });
    await baton.start(deadline, {}, { runId: "d-1" });
    await waitFor(async () => (await baton.get("d-1")).status === "waiting");
    clock.advance(59_999);
    await new Promise((r) => setTimeout(r, 20));
    expect((await baton.get("d-1")).status).toBe("waiting");
    clock.advance(1);
    expect(await baton.result("d-1")).toEqual({ timedOut: "SIGNAL_TIMEOUT" });
  });

  it("delivers a signal that arrives before the timeout, not the timeout", async () => {
    const clock = new ManualClock();
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [deadline],
      clock,
      replayAfterEveryOp,
    });
    await baton.start(deadline, {}, { runId: "d-2" });
    await waitFor(async () => (await baton.get("d-2")).status === "waiting");
    clock.advance(30_000);
    await baton.signal("d-2", "reply", "yes");
    expect(await baton.result("d-2")).toEqual({ payload: "yes" });
    clock.advance(60_000);
    expect((await baton.get("d-2")).status).toBe("completed");
  });

  it("fires a durable timer at its time and never early", async () => {
    const clock = new ManualClock();
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [napper],
      clock,
      replayAfterEveryOp,
    });
    await baton.start(napper, { ms: 3 * DAY }, { runId: "n-1" });
    await waitFor(async () => (await baton.get("n-1")).status === "waiting");
    clock.advance(3 * DAY - 1);
    await new Promise((r) => setTimeout(r, 20));
    expect((await baton.get("n-1")).status).toBe("waiting");
    clock.advance(1);
    expect(await baton.result("n-1")).toEqual({ slept: 3 * DAY });
  });
});

describe("durable timers across restarts", () => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("survives a restart and fires at its time, not early", async () => {
    const db = fixture.db();
    const start = Date.UTC(2026, 5, 1);
    const first = await fixture.open({ db, workflows: [napper], clock: new ManualClock(start) });
    await first.start(napper, { ms: DAY }, { runId: "t-1" });
    await waitFor(async () => (await first.get("t-1")).status === "waiting");
    await first.close();

    // Restarted an hour later: the timer is still ahead.
    const clock = new ManualClock(start + 60 * 60 * 1000);
    const second = await fixture.open({ db, workflows: [napper], clock });
    expect((await second.get("t-1")).waitingOn).toMatchObject({
      kind: "timer",
      until: new Date(start + DAY).toISOString(),
    });
    clock.advance(DAY - 60 * 60 * 1000 - 1);
    await new Promise((r) => setTimeout(r, 30));
    expect((await second.get("t-1")).status).toBe("waiting");
    clock.advance(1);
    expect(await second.result("t-1")).toEqual({ slept: DAY });
  });

  it("fires a timer that fell due while the engine was down as soon as it restarts", async () => {
    const db = fixture.db();
    const start = Date.UTC(2026, 5, 1);
    const first = await fixture.open({ db, workflows: [napper], clock: new ManualClock(start) });
    await first.start(napper, { ms: 1000 }, { runId: "t-2" });
    await waitFor(async () => (await first.get("t-2")).status === "waiting");
    await first.close();
    const second = await fixture.open({
      db,
      workflows: [napper],
      clock: new ManualClock(start + 5000),
    });
    expect(await second.result("t-2")).toEqual({ slept: 5000 });
  });
});
