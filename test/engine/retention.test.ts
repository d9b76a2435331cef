import { afterEach, describe, expect, it } from "vitest";
import { workflow, type Baton, type BatonError } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);

const plain = workflow("plain", async (ctx) => ctx.step("s", () => 1));
const short = workflow("short", async (ctx) => ctx.step("s", () => 2), { retention: "1h" });
const forever = workflow("forever", async (ctx) => ctx.step("s", () => 3), { retention: 0 });
const waiting = workflow("waiting", async (ctx) => ctx.waitForSignal("go"));
const child = workflow("child", async (ctx) => ctx.step("s", () => 4), { retention: "1m" });
const parent = workflow("parent", async (ctx) => ctx.child(child, {}), { retention: "1h" });
const workflows = [plain, short, forever, waiting, child, parent];

const fixture = batonFixture();
afterEach(() => fixture.cleanup());

async function exists(baton: Baton, runId: string): Promise<boolean> {
  try {
    await baton.get(runId);
    return true;
  } catch (e) {
    if ((e as BatonError).code === "RUN_NOT_FOUND") return false;
    throw e;
  }
}

async function present(baton: Baton, runIds: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const runId of runIds) if (await exists(baton, runId)) found.push(runId);
  return found;
}

describe("retention", () => {
  it("deletes ended runs after their workflow's retention, else the node's; 0 and runs in flight stay", async () => {
    const clock = new ManualClock(T0);
    const baton = await fixture.open({ db: fixture.db(), clock, workflows, retention: "1d" });
    for (const [wf, runId] of [
      [plain, "p-1"],
      [short, "s-1"],
      [forever, "f-1"],
      [waiting, "w-1"],
    ] as const) {
      await baton.start(wf, {}, { runId });
    }
    for (const runId of ["p-1", "s-1", "f-1"]) await baton.result(runId);
    await waitFor(async () => (await baton.get("w-1")).status === "waiting", { what: "w-1 waits" });
    const all = ["p-1", "s-1", "f-1", "w-1"];
    expect(await present(baton, all)).toEqual(all);

    clock.advance(2 * HOUR); // past short's hour, not the node's day
    await waitFor(async () => !(await exists(baton, "s-1")), { what: "s-1 deleted" });
    expect(await present(baton, all)).toEqual(["p-1", "f-1", "w-1"]);
    await expect(baton.history("s-1")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });

    clock.advance(DAY);
    await waitFor(async () => !(await exists(baton, "p-1")), { what: "p-1 deleted" });
    expect(await present(baton, all)).toEqual(["f-1", "w-1"]);
    expect((await baton.get("w-1")).status).toBe("waiting");
    expect(baton.engine.retentionDeleted.get("runs")).toBe(2);
    expect(baton.engine.retentionDeleted.get("journal")).toBeGreaterThanOrEqual(6);

    // The run in flight ends now: its retention counts from its end, not its start.
    await baton.signal("w-1", "go", "ok");
    await baton.result("w-1");
    clock.advance(DAY - MINUTE);
    await baton.engine.sweepExpiredRuns();
    expect(await present(baton, all)).toEqual(["f-1", "w-1"]);
    clock.advance(2 * MINUTE);
    await waitFor(async () => !(await exists(baton, "w-1")), { what: "w-1 deleted" });
    expect(await present(baton, all)).toEqual(["f-1"]);
  });

  it("keeps a child until its parent is deleted, then deletes it", async () => {
    const clock = new ManualClock(T0);
    const baton = await fixture.open({ db: fixture.db(), clock, workflows, retention: "1d" });
    await baton.start(parent, {}, { runId: "parent-1" });
    await baton.result("parent-1");
    const childId = (await baton.list({ workflow: "child" })).runs[0]!.runId;

    clock.advance(10 * MINUTE); // past the child's minute: its parent still holds it
    await baton.engine.sweepExpiredRuns();
    expect(await present(baton, ["parent-1", childId])).toEqual(["parent-1", childId]);

    // While a run is due that had to wait, the sweeper looks again every minute: the parent goes
    // at the first look past its hour, the child at the next.
    clock.advance(HOUR);
    await baton.engine.sweepExpiredRuns();
    expect(await present(baton, ["parent-1", childId])).toEqual([childId]);
    clock.advance(2 * MINUTE);
    await waitFor(async () => !(await exists(baton, childId)), { what: "child deleted" });
  });

  it("refuses a retention that is not a duration", async () => {
    expect(() => workflow("bad", async () => 1, { retention: "30 days" })).toThrow(
      expect.objectContaining({ code: "INVALID_DEFINITION" }) as Error,
    );
    await expect(
      fixture.open({ db: fixture.db(), workflows, retention: "-1d" }),
    ).rejects.toMatchObject({ code: "INVALID_DURATION" });
  });
});
