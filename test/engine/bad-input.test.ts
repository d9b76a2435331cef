import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { Baton, workflow } from "../../src/index.js";
import { batonFixture } from "../support/open-baton.js";
import { tempDbUrl } from "../support/temp-db.js";

const typed = workflow(
  "typed",
  async (ctx, input: { orderId: string; qty: number }) => ctx.step("echo", () => input),
  { input: z.object({ orderId: z.string().min(1), qty: z.number().int().positive() }) },
);

class Money {
  constructor(readonly cents: number) {}
}

describe("bad input gets a typed error and leaves nothing half-written", () => {
  const fixture = batonFixture();
  afterEach(() => fixture.cleanup());

  it("refuses an unknown workflow with WORKFLOW_NOT_FOUND", async () => {
    const baton = await fixture.open({ db: fixture.db(), workflows: [typed] });
    await expect(baton.start("nope", {})).rejects.toMatchObject({ code: "WORKFLOW_NOT_FOUND" });
    expect((await baton.list()).runs).toHaveLength(0);
  });

  it("refuses input that fails the workflow's schema with INPUT_INVALID and the schema's issues", async () => {
    const baton = await fixture.open({ db: fixture.db(), workflows: [typed] });
    const error = await baton
      .start(typed, { orderId: "", qty: -1 }, { runId: "bad-1" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INPUT_INVALID" });
    expect(JSON.stringify((error as { details: unknown }).details)).toContain("qty");
    await expect(baton.get("bad-1")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });

  it("refuses input that is not JSON with INPUT_NOT_JSON", async () => {
    const untyped = workflow("untyped", async () => "ok");
    const baton = await fixture.open({ db: fixture.db(), workflows: [untyped] });
    await expect(baton.start(untyped, { when: new Date() })).rejects.toMatchObject({
      code: "INPUT_NOT_JSON",
    });
    await expect(baton.start(untyped, { f: () => 1 })).rejects.toMatchObject({
      code: "INPUT_NOT_JSON",
    });
    expect((await baton.list()).runs).toHaveLength(0);
  });

  it("refuses a malformed run id with INVALID_RUN_ID", async () => {
    const baton = await fixture.open({ db: fixture.db(), workflows: [typed] });
    for (const runId of ["", "has space", "slash/y", "x".repeat(201), "émoji"]) {
      await expect(baton.start(typed, { orderId: "o", qty: 1 }, { runId })).rejects.toMatchObject({
        code: "INVALID_RUN_ID",
      });
    }
    expect((await baton.list()).runs).toHaveLength(0);
  });

  it("refuses a run id already used by another workflow with RUN_ID_IN_USE", async () => {
    const other = workflow("other", async () => "ok");
    const baton = await fixture.open({ db: fixture.db(), workflows: [typed, other] });
    await baton.start(other, {}, { runId: "shared" });
    await expect(
      baton.start(typed, { orderId: "o", qty: 1 }, { runId: "shared" }),
    ).rejects.toMatchObject({ code: "RUN_ID_IN_USE" });
  });

  it("fails a step whose output is not JSON with OUTPUT_NOT_JSON and records no output for it", async () => {
    const leaky = workflow("leaky", async (ctx) => {
      await ctx.step("ok", () => ({ fine: true }));
      return ctx.step("money", () => ({ total: new Money(5) }));
    });
    const baton = await fixture.open({ db: fixture.db(), workflows: [leaky] });
    await baton.start(leaky, {}, { runId: "leak-1" });
    const run = await baton.wait("leak-1");
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("OUTPUT_NOT_JSON");
    expect(run.error?.message).toContain("Money");
    const money = run.steps.find((s) => s.name === "money");
    expect(money).toMatchObject({ status: "failed", attempts: 1 });
    expect(money?.output).toBeUndefined();
    const history = await baton.history("leak-1");
    expect(history.some((e) => e.type === "step.completed" && e.name === "money")).toBe(false);
  });

  it("fails a workflow whose output is not JSON with OUTPUT_NOT_JSON", async () => {
    const bigint = workflow("bigint", async () => ({ n: 10n }) as unknown as string);
    const baton = await fixture.open({ db: fixture.db(), workflows: [bigint] });
    await baton.start(bigint, {}, { runId: "big-1" });
    expect(await baton.wait("big-1")).toMatchObject({
      status: "failed",
      error: { code: "OUTPUT_NOT_JSON" },
    });
  });

  it("refuses two workflows with one name with DUPLICATE_WORKFLOW before touching the database", async () => {
    const db = tempDbUrl();
    try {
      const a = workflow("twin", async () => 1);
      const b = workflow("twin", async () => 2);
      await expect(Baton.open({ db: db.url, workflows: [a, b] })).rejects.toMatchObject({
        code: "DUPLICATE_WORKFLOW",
      });
      expect(existsSync(db.path)).toBe(false);
    } finally {
      db.cleanup();
    }
  });

  it("refuses invalid definitions and unknown runs with typed errors", async () => {
    expect(() => workflow("has space", async () => 1)).toThrow(
      expect.objectContaining({ code: "INVALID_DEFINITION" }),
    );
    const baton = await fixture.open({ db: fixture.db(), workflows: [typed] });
    await expect(baton.get("missing")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    await expect(baton.signal("missing", "go")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    await expect(baton.cancel("missing")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    await expect(baton.retry("missing")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    await expect(baton.list({ status: "sleeping" })).rejects.toMatchObject({
      code: "INVALID_STATUS",
    });
    await expect(baton.list({ limit: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(baton.list({ cursor: "garbage" })).rejects.toMatchObject({
      code: "INVALID_CURSOR",
    });
  });
});
