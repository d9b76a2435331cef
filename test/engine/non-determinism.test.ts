import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/index.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

/** Version 1 of a workflow, and a version 2 that renamed its first step. */
function orderVersion(firstStep: string) {
  return workflow("order", async (ctx, input: { id: string }) => {
    await ctx.step(firstStep, () => ({ reserved: input.id }));
    await ctx.waitForSignal("go");
    return ctx.step("ship", () => ({ shipped: input.id }));
  });
}

const audit = workflow("audit", async (ctx) => {
  await ctx.waitForSignal("go");
  return ctx.step("record", () => "audited");
});

describe("non-determinism", () => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("parks a run whose code changed a step's name, naming both; other runs complete; a retry after the fix completes it", async () => {
    const db = fixture.db();
    const v1 = await fixture.open({ db, workflows: [orderVersion("reserve"), audit] });
    await v1.start("order", { id: "o-1" }, { runId: "o-1" });
    await v1.start("audit", {}, { runId: "a-1" });
    await waitFor(async () => (await v1.list({ status: "waiting" })).runs.length === 2);
    const journalBefore = await v1.history("o-1");
    await v1.close();

    // Restart with changed code: the journal says "reserve", the code now says "reserveStock".
    const v2 = await fixture.open({ db, workflows: [orderVersion("reserveStock"), audit] });
    await v2.signal("a-1", "go");
    expect(await v2.result("a-1")).toBe("audited");
    await v2.signal("o-1", "go");
    const parked = await v2.wait("o-1");
    expect(parked.status).toBe("failed");
    expect(parked.error?.code).toBe("NON_DETERMINISM");
    expect(parked.error?.message).toContain("journal has step reserve");
    expect(parked.error?.message).toContain("code asked for step reserveStock");
    // The journal is untouched but for the failure itself.
    const journalAfter = await v2.history("o-1");
    expect(journalAfter.slice(0, journalBefore.length)).toEqual(journalBefore);
    expect(journalAfter.slice(journalBefore.length).map((e) => e.type)).toEqual(["run.failed"]);
    // A new run of the new version is fine.
    await v2.start("order", { id: "o-2" }, { runId: "o-2" });
    await waitFor(async () => (await v2.get("o-2")).status === "waiting");
    await v2.signal("o-2", "go");
    expect(await v2.result("o-2")).toEqual({ shipped: "o-2" });
    await v2.close();

    // Deploy the fix (the old name back) and retry: the run resumes where it stopped.
    const fixed = await fixture.open({ db, workflows: [orderVersion("reserve"), audit] });
    await fixed.retry("o-1");
    expect(await fixed.result("o-1")).toEqual({ shipped: "o-1" });
    const steps = (await fixed.get("o-1")).steps;
    expect(steps.map((s) => [s.name, s.attempts])).toEqual([
      ["reserve", 1],
      ["go", 1],
      ["ship", 1],
    ]);
  });

  it("parks a run whose code no longer asks for an operation the journal has", async () => {
    const db = fixture.db();
    const before = workflow("shrinking", async (ctx) => {
      await Promise.all([ctx.step("a", () => 1), ctx.step("b", () => 2)]);
      await ctx.waitForSignal("go");
      return "done";
    });
    const after = workflow("shrinking", async (ctx) => {
      await ctx.step("a", () => 1);
      await ctx.waitForSignal("go");
      return "done";
    });
    const v1 = await fixture.open({ db, workflows: [before] });
    await v1.start("shrinking", {}, { runId: "s-1" });
    await waitFor(async () => (await v1.get("s-1")).status === "waiting");
    await v1.close();
    const v2 = await fixture.open({ db, workflows: [after] });
    await v2.signal("s-1", "go");
    const parked = await v2.wait("s-1");
    expect(parked.error?.code).toBe("NON_DETERMINISM");
    expect(parked.error?.message).toMatch(/journal has step b|code asked for signal go/);
  });
});
