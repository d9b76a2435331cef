import { afterEach, describe, expect, it } from "vitest";
import { Baton, workflow, type AnyWorkflow } from "../../src/index.js";
import { batonFixture } from "../support/open-baton.js";
import { EXECUTION_MODES } from "../support/modes.js";
import { waitFor } from "../support/wait-for.js";
import { orderWorkflow } from "../versions/fixtures/order.js";

const stepNames = async (baton: Baton, runId: string): Promise<string[]> =>
  (await baton.get(runId)).steps.map((s) => s.name);

async function waitingOn(baton: Baton, runId: string, signal: string): Promise<void> {
  await waitFor(async () => (await baton.get(runId)).waitingOn?.signal === signal);
}

describe.each(EXECUTION_MODES)("versions and patches ($name)", ({ replayAfterEveryOp }) => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());
  const open = (db: string, workflows: AnyWorkflow[]) =>
    fixture.open({ db, workflows, replayAfterEveryOp });

  it("a run keeps the version it started with; new runs take the highest", async () => {
    const db = fixture.db();
    const v1 = await open(db, [orderWorkflow("never")]);
    expect((await v1.start("order", { id: "old" }, { runId: "old" })).version).toBe(1);
    await waitingOn(v1, "old", "approve");
    expect((await v1.history("old"))[0]).toMatchObject({
      type: "run.started",
      data: { version: 1 },
    });
    await v1.close();

    const both = await open(db, [orderWorkflow("never", 1), orderWorkflow("always", 2)]);
    const started = await both.start("order", { id: "new" }, { runId: "new" });
    expect(started.version).toBe(2);
    await waitingOn(both, "new", "approve");
    await both.signal("old", "approve");
    await both.signal("new", "approve");
    expect(await both.result("old")).toEqual({ shipped: "old", version: 1, checked: false });
    expect(await both.result("new")).toEqual({ shipped: "new", version: 2, checked: true });
    expect(await stepNames(both, "old")).toEqual(["reserve", "approve", "ship"]);
    expect(await stepNames(both, "new")).toEqual(["reserve", "fraudCheck", "approve", "ship"]);
    expect((await both.get("old")).version).toBe(1);

    // An explicit version, and one that is not there.
    expect(
      (await both.start("order", { id: "pinned" }, { runId: "pinned", version: 1 })).version,
    ).toBe(1);
    await expect(both.start("order", { id: "x" }, { version: 3 })).rejects.toMatchObject({
      code: "VERSION_NOT_FOUND",
    });
  });

  it("a run whose version is not registered waits and says so; it resumes once that version is deployed", async () => {
    const db = fixture.db();
    const v1 = await open(db, [orderWorkflow("never")]);
    await v1.start("order", { id: "o" }, { runId: "o" });
    await waitingOn(v1, "o", "approve");
    await v1.close();

    const v2only = await open(db, [orderWorkflow("always", 2)]);
    await v2only.signal("o", "approve");
    const waiting = await v2only.get("o");
    expect(waiting.status).toBe("waiting");
    expect(waiting.waitingOn).toMatchObject({ kind: "version", version: 1 });
    expect(waiting.waitingOn?.reason).toContain("version 1 of workflow order");
    expect(waiting.waitingOn?.reason).toContain("this node has version 2");
    expect(await stepNames(v2only, "o")).toEqual(["reserve", "approve"]);
    await v2only.close();

    const again = await open(db, [orderWorkflow("never", 1), orderWorkflow("always", 2)]);
    expect(await again.result("o")).toEqual({ shipped: "o", version: 1, checked: false });
  });

  it("patched: runs past the patch keep the old path, runs before it and new runs take the new one; deprecatePatch replays both", async () => {
    const db = fixture.db();
    const v1 = await open(db, [orderWorkflow("never")]);
    await v1.start("order", { id: "past" }, { runId: "past" });
    await v1.start("order", { id: "before", gated: true }, { runId: "before" });
    await waitingOn(v1, "past", "approve");
    await waitingOn(v1, "before", "go");
    await v1.close();

    const patched = await open(db, [orderWorkflow("patched")]);
    await patched.start("order", { id: "new" }, { runId: "new" });
    await patched.signal("before", "go");
    await waitingOn(patched, "before", "approve");
    await waitingOn(patched, "new", "approve");
    await patched.signal("past", "approve");
    expect(await patched.result("past")).toMatchObject({ checked: false });
    expect(await stepNames(patched, "past")).toEqual(["reserve", "approve", "ship"]);
    expect(await stepNames(patched, "before")).toEqual(["go", "reserve", "fraudCheck", "approve"]);
    // The marker is journaled where the run first reached the patch.
    expect((await patched.history("new")).find((e) => e.type === "patch.recorded")).toMatchObject({
      seq: 2,
      name: "fraud-check",
    });
    await patched.close();

    // The old branch removed: runs that journaled the marker replay through deprecatePatch.
    const deprecated = await open(db, [orderWorkflow("deprecated")]);
    await deprecated.signal("before", "approve");
    await deprecated.signal("new", "approve");
    expect(await deprecated.result("before")).toMatchObject({ checked: true });
    expect(await deprecated.result("new")).toMatchObject({ checked: true });
    await deprecated.start("order", { id: "newest" }, { runId: "newest" });
    await waitingOn(deprecated, "newest", "approve");
    const marker = (await deprecated.history("newest")).find((e) => e.type === "patch.recorded");
    expect(marker).toMatchObject({ seq: 2, name: "fraud-check", data: { deprecated: true } });
  });
});

describe("version definitions", () => {
  it("refuses the same version twice and versions that are not positive integers", async () => {
    expect(() => workflow("w", async () => 1, { version: 0 })).toThrow(
      expect.objectContaining({ code: "INVALID_DEFINITION" }),
    );
    expect(() => workflow("w", async () => 1, { version: 1.5 })).toThrow(
      expect.objectContaining({ code: "INVALID_DEFINITION" }),
    );
    await expect(
      Baton.open({
        db: "sqlite::memory:",
        workflows: [
          workflow("w", async () => 1, { version: 2 }),
          workflow("w", async () => 2, { version: 2 }),
        ],
      }),
    ).rejects.toMatchObject({
      code: "DUPLICATE_WORKFLOW",
      message: expect.stringContaining("version 2"),
    });
  });
});
