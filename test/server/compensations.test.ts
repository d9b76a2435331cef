import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { Run } from "../../src/index.js";
import { RunSchema } from "../../src/server/schemas/wire.js";
import { waitFor } from "../support/wait-for.js";
import { call, expectError } from "./http.js";
import { serverFixture } from "./server-fixture.js";

/** The run as the API answers it, once `accept` says it is there. */
async function runUntil(
  app: FastifyInstance,
  runId: string,
  accept: (run: Run) => boolean,
  what: string,
): Promise<Run> {
  return waitFor(
    async () => {
      const run = (await call(app, "GET", `/v1/runs/${runId}`)).body;
      return accept(run) ? run : undefined;
    },
    { what: `run ${runId}: ${what}` },
  );
}

/**
 * Starts stuckRollback and waits until its failed release waits for an operator. The engine
 * checks an operator's action against the run's stored row, which may trail the run in memory
 * (what GET answers) by a commit, so this waits for the list, which reads the row, too.
 */
async function startStuck(app: FastifyInstance, runId: string): Promise<Run> {
  const started = await call(app, "POST", "/v1/workflows/stuckRollback/runs", { json: { runId } });
  expect(started.status).toBe(201);
  await waitFor(
    async () =>
      (await call(app, "GET", `/v1/runs?runIdPrefix=${runId}`)).body.runs.find(
        (run) => run.runId === runId && run.waitingOn?.kind === "operator",
      ),
    { what: `the stored row of ${runId} to say it waits for an operator` },
  );
  return runUntil(app, runId, (run) => run.waitingOn?.kind === "operator", "waits for an operator");
}

describe("a rollback whose compensation failed, over HTTP", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("says what it waits on: the operation whose compensation failed, and the error", async () => {
    const { server } = await fixture.open();
    const run = await startStuck(server.app, "stuck-0");
    expect(RunSchema.parse(run)).toMatchObject({
      status: "compensating",
      waitingOn: {
        kind: "operator",
        compensates: 1,
        step: "reserve",
        lastError: { message: expect.stringContaining("nope") },
      },
    });
    expect(run.waitingOn?.reason).toContain("/v1/runs/stuck-0/compensations/1/skip");
  });

  it("skips it with 202, and the run ends failed with PARTIALLY_COMPENSATED", async () => {
    const { server } = await fixture.open();
    await startStuck(server.app, "stuck-1");
    const skipped = await call(server.app, "POST", "/v1/runs/stuck-1/compensations/1/skip", {
      json: {},
    });
    expect([skipped.status, skipped.body]).toEqual([202, { runId: "stuck-1" }]);
    const ended = await runUntil(
      server.app,
      "stuck-1",
      (run) => run.status === "failed",
      "ends failed",
    );
    expect(ended.error?.code).toBe("PARTIALLY_COMPENSATED");
    expect(ended).not.toHaveProperty("waitingOn");
    const history = (await call(server.app, "GET", "/v1/runs/stuck-1/history")).body.events;
    expect(history.some((event) => event.type === "compensation.skipped")).toBe(true);

    // The run has ended: nothing is left to skip.
    expectError(
      await call(server.app, "POST", "/v1/runs/stuck-1/compensations/1/skip", { json: {} }),
      409,
      "RUN_TERMINAL",
    );
  });

  it("takes a skip without a body at all", async () => {
    const { server } = await fixture.open();
    await startStuck(server.app, "stuck-2");
    const bare = await call(server.app, "POST", "/v1/runs/stuck-2/compensations/1/skip", {
      raw: "",
      headers: { "content-type": "application/json" },
    });
    expect(bare.status).toBe(202);
    await runUntil(
      server.app,
      "stuck-2",
      (run) => run.status === "failed" && run.error?.code === "PARTIALLY_COMPENSATED",
      "ends failed, partially compensated",
    );
  });

  it("refuses a skip with 404, 409 or 400 when there is nothing of that seq to skip", async () => {
    const { server } = await fixture.open();
    const { app } = server;
    await startStuck(app, "stuck-3");
    await call(app, "POST", "/v1/workflows/approval/runs", { json: { runId: "waits-1" } });
    await runUntil(app, "waits-1", (run) => run.waitingOn?.kind === "signal", "waits");

    const skip = (path: string, json: unknown = {}) => call(app, "POST", path, { json });
    expectError(await skip("/v1/runs/nobody/compensations/1/skip"), 404, "RUN_NOT_FOUND");
    // A run that is not rolling back, and a seq other than the one that failed.
    expectError(await skip("/v1/runs/waits-1/compensations/1/skip"), 409, "NO_FAILED_COMPENSATION");
    expectError(await skip("/v1/runs/stuck-3/compensations/2/skip"), 409, "NO_FAILED_COMPENSATION");
    for (const seq of ["0", "-1", "1.5", "one"]) {
      expectError(
        await skip(`/v1/runs/stuck-3/compensations/${seq}/skip`),
        400,
        "INVALID_ARGUMENT",
      );
    }
    expectError(
      await skip("/v1/runs/stuck-3/compensations/1/skip", { seq: 1 }),
      400,
      "INVALID_ARGUMENT",
    );
    expectError(await skip("/v1/runs/bad%20id/compensations/1/skip"), 400, "INVALID_RUN_ID");
    // None of that touched the run: it still waits for its operator.
    expect((await call(app, "GET", "/v1/runs/stuck-3")).body).toMatchObject({
      status: "compensating",
      waitingOn: { kind: "operator", compensates: 1 },
    });
  });

  it("retries the failed compensation with 202: it runs again, and waits again when it fails", async () => {
    const { server } = await fixture.open();
    // Each attempt of the compensation is an operation of its own, undoing seq 1.
    const attemptsOf = (run: Run) => run.steps.filter((step) => step.compensates === 1).length;
    const before = await startStuck(server.app, "stuck-4");
    expect(attemptsOf(before)).toBe(1);
    const retried = await call(server.app, "POST", "/v1/runs/stuck-4/retry");
    expect([retried.status, retried.body]).toEqual([202, { runId: "stuck-4" }]);
    const after = await runUntil(
      server.app,
      "stuck-4",
      (run) => run.waitingOn?.kind === "operator" && attemptsOf(run) === 2,
      "runs the release again and waits for an operator again",
    );
    expect(after.status).toBe("compensating");
  });
});

describe("a start request's deadline", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("must be a whole positive number of milliseconds", async () => {
    const { server } = await fixture.open();
    for (const deadline of [0, -5, 1.5, "100", null]) {
      const answer = await call(server.app, "POST", "/v1/workflows/approval/runs", {
        json: { runId: "d-bad", deadline },
      });
      expectError(answer, 400, "INVALID_ARGUMENT");
      expect(answer.body.error.message).toContain("deadline");
    }
    expectError(await call(server.app, "GET", "/v1/runs/d-bad"), 404, "RUN_NOT_FOUND");
  });

  it("fails the run with DEADLINE_EXCEEDED when it passes", async () => {
    const { server } = await fixture.open();
    const started = await call(server.app, "POST", "/v1/workflows/approval/runs", {
      json: { runId: "d-1", deadline: 100 },
    });
    expect(started.status).toBe(201);
    const ended = await runUntil(
      server.app,
      "d-1",
      (run) => run.status === "failed",
      "fails at its deadline",
    );
    expect(ended.error?.code).toBe("DEADLINE_EXCEEDED");
  });
});
