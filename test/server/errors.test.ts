import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/testing/index.js";
import { call, expectError } from "./http.js";
import { serverFixture } from "./server-fixture.js";

describe("every refusal over HTTP has the contract's error shape and status", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("answers bad input with 400/404/409/413/415/422 and a typed code, then keeps serving", async () => {
    const clock = new ManualClock();
    const { baton, server } = await fixture.open({}, { clock });
    const app = server.app;

    // A finished run and a failed run to refuse things on.
    expect(
      (
        await call(app, "POST", "/v1/workflows/greet/runs?wait=10", {
          json: { input: { name: "ada" }, runId: "done-1" },
        })
      ).body.status,
    ).toBe("completed");
    await call(app, "POST", "/v1/workflows/doomed/runs", { json: { runId: "failed-1" } });
    expect((await baton.wait("failed-1")).status).toBe("failed");

    // 400 — the body is not JSON, or not what the route takes
    const malformed = await call(app, "POST", "/v1/workflows/greet/runs", {
      raw: '{"input": {"name": "ada"',
      headers: { "content-type": "application/json" },
    });
    expectError(malformed, 400, "BAD_REQUEST");
    expect(malformed.body.error.message).toContain("not valid JSON");
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", {
        raw: '{"input": {"__proto__": {"admin": true}}}',
        headers: { "content-type": "application/json" },
      }),
      400,
      "BAD_REQUEST",
    );
    const wrongType = await call(app, "POST", "/v1/services/payments/tasks/poll", {
      json: { workerId: 7, max: "2" },
    });
    expectError(wrongType, 400, "INVALID_ARGUMENT");
    expect(wrongType.body.error.details).toMatchObject({
      in: "body",
      issues: [{ path: ["workerId"] }, { path: ["max"] }],
    });
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", { json: [1, 2] }),
      400,
      "INVALID_ARGUMENT",
    );
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", { json: { inptu: { name: "typo" } } }),
      400,
      "INVALID_ARGUMENT",
    );
    expectError(
      await call(app, "POST", "/v1/tasks/t:1@1/fail", { json: { error: "just a string" } }),
      400,
      "INVALID_ARGUMENT",
    );
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs?wait=9999", { json: {} }),
      400,
      "INVALID_ARGUMENT",
    );
    expectError(await call(app, "GET", "/v1/events?topic=run.exploded"), 400, "INVALID_ARGUMENT");

    // 400 — bad run ids, wherever they come from
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", {
        json: { input: { name: "a" }, runId: "has space" },
      }),
      400,
      "INVALID_RUN_ID",
    );
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", {
        json: { input: { name: "a" }, runId: 42 },
      }),
      400,
      "INVALID_RUN_ID",
    );
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", {
        json: { input: { name: "a" } },
        headers: { "idempotency-key": "slash/not/allowed" },
      }),
      400,
      "INVALID_RUN_ID",
    );
    expectError(await call(app, "GET", "/v1/runs/has%20space"), 400, "INVALID_RUN_ID");
    expectError(await call(app, "GET", `/v1/runs/${"x".repeat(201)}`), 400, "INVALID_RUN_ID");

    // 400 — list filters
    expectError(await call(app, "GET", "/v1/runs?status=finished"), 400, "INVALID_STATUS");
    expectError(await call(app, "GET", "/v1/runs?limit=0"), 400, "INVALID_ARGUMENT");
    expectError(await call(app, "GET", "/v1/runs?limit=lots"), 400, "INVALID_ARGUMENT");
    expectError(await call(app, "GET", "/v1/runs?limit=1001"), 400, "INVALID_ARGUMENT");
    expectError(await call(app, "GET", "/v1/runs?cursor=not-a-cursor"), 400, "INVALID_CURSOR");

    // 400 — a URL that does not decode
    expectError(await call(app, "GET", "/v1/runs/%E0%A4%A"), 400, "BAD_REQUEST");

    // 404 — unknown things
    expectError(await call(app, "GET", "/v1/runs/no-such-run"), 404, "RUN_NOT_FOUND");
    expectError(await call(app, "GET", "/v1/runs/no-such-run/history"), 404, "RUN_NOT_FOUND");
    expectError(await call(app, "GET", "/v1/runs/no-such-run/stream"), 404, "RUN_NOT_FOUND");
    expectError(await call(app, "POST", "/v1/runs/no-such-run/cancel"), 404, "RUN_NOT_FOUND");
    expectError(
      await call(app, "POST", "/v1/workflows/nope/runs", { json: { input: {} } }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
    expectError(
      await call(app, "POST", "/v1/services/nope/tasks/poll", { json: { workerId: "w" } }),
      404,
      "SERVICE_NOT_FOUND",
    );
    // A service reached directly has no queue to poll.
    expectError(
      await call(app, "POST", "/v1/services/greeter/tasks/poll", { json: { workerId: "w" } }),
      404,
      "SERVICE_NOT_FOUND",
    );
    expectError(
      await call(app, "POST", "/v1/tasks/ghost:1@1/complete", { json: { output: 1 } }),
      404,
      "TASK_NOT_FOUND",
    );
    expectError(await call(app, "POST", "/v1/tasks/ghost:1@1/heartbeat"), 404, "TASK_NOT_FOUND");
    expectError(await call(app, "GET", "/v1/nothing-here"), 404, "NOT_FOUND");
    expectError(await call(app, "DELETE", "/v1/runs/done-1"), 404, "NOT_FOUND");

    // 409 — the run or the delivery cannot take it
    expectError(
      await call(app, "POST", "/v1/runs/done-1/signals/decision", { json: { payload: 1 } }),
      409,
      "RUN_TERMINAL",
    );
    expectError(
      await call(app, "POST", "/v1/runs/done-1/cancel", { json: { reason: "late" } }),
      409,
      "RUN_TERMINAL",
    );
    expectError(await call(app, "POST", "/v1/runs/done-1/retry"), 409, "RUN_NOT_FAILED");
    expectError(
      await call(app, "POST", "/v1/workflows/napper/runs", {
        json: { input: { ms: 1 }, runId: "done-1" },
      }),
      409,
      "RUN_ID_IN_USE",
    );
    await call(app, "POST", "/v1/workflows/charge/runs", {
      json: { input: { orderId: "o-1", cents: 5 }, runId: "lease-1" },
    });
    const first = await call(app, "POST", "/v1/services/payments/tasks/poll", {
      json: { workerId: "slow", waitSeconds: 5 },
    });
    const task = first.body.tasks[0]!;
    clock.advance(5_001); // the lease (5 s for payments) runs out
    expectError(
      await call(app, "POST", `/v1/tasks/${encodeURIComponent(task.taskId)}/heartbeat`),
      409,
      "LEASE_LOST",
    );
    expectError(
      await call(app, "POST", `/v1/tasks/${encodeURIComponent(task.taskId)}/complete`, {
        json: { output: { late: true } },
      }),
      409,
      "LEASE_LOST",
    );
    expectError(
      await call(app, "POST", `/v1/tasks/${encodeURIComponent(task.taskId)}/fail`, {
        json: { error: { message: "late" } },
      }),
      409,
      "LEASE_LOST",
    );

    // 413, 415, 422
    const tooLarge = await call(app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "x".repeat(1024 * 1024) } },
    });
    expectError(tooLarge, 413, "PAYLOAD_TOO_LARGE");
    expect(tooLarge.body.error.details).toEqual({ limit: 1024 * 1024 });
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", {
        raw: "name=ada",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
    expectError(
      await call(app, "POST", "/v1/workflows/greet/runs", {
        raw: '{"input":{}}',
        headers: { "content-type": "text/plain" },
      }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
    const invalid = await call(app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "" }, runId: "bad-input" },
    });
    expectError(invalid, 422, "INPUT_INVALID");
    expect(JSON.stringify(invalid.body.error.details)).toContain("name");
    expectError(await call(app, "GET", "/v1/runs/bad-input"), 404, "RUN_NOT_FOUND");

    // …and the server is none the worse for it.
    expect((await call(app, "GET", "/healthz")).status).toBe(200);
    expect((await call(app, "GET", "/readyz")).status).toBe(200);
    const after = await call(app, "POST", "/v1/workflows/greet/runs?wait=10", {
      json: { input: { name: "still here" } },
    });
    expect(after.status).toBe(201);
    expect(after.body).toMatchObject({
      status: "completed",
      output: { greeting: "hello still here" },
    });
  });

  it("honours a smaller body limit", async () => {
    const { server } = await fixture.open({ bodyLimit: 100 });
    const answer = await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "y".repeat(200) } },
    });
    expectError(answer, 413, "PAYLOAD_TOO_LARGE");
    expect(answer.body.error.message).toContain("100 bytes");
  });

  it("answers a fault with 500 INTERNAL and a request id, keeps its message out, and logs it with the run id", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const { server } = await fixture.open({ logger: pino({ level: "error" }, sink) });
    server.app.get("/v1/runs/:runId/explode", () => {
      throw new Error("password=hunter2 in a driver message");
    });
    const answer = await call(server.app, "GET", "/v1/runs/r-9/explode", {
      headers: { "x-request-id": "req-abc" },
    });
    expectError(answer, 500, "INTERNAL");
    expect(answer.text).not.toContain("hunter2");
    expect(answer.body.error.details).toEqual({ requestId: "req-abc" });
    expect(answer.headers["x-request-id"]).toBe("req-abc");
    const logged = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.msg === "request failed");
    expect(logged).toMatchObject({
      runId: "r-9",
      reqId: "req-abc",
      err: { message: expect.stringContaining("hunter2") },
    });
  });

  it("says the server is unavailable once the engine is closed", async () => {
    const { baton, server } = await fixture.open();
    await baton.engine.close();
    expectError(await call(server.app, "GET", "/readyz"), 503, "UNAVAILABLE");
    expectError(
      await call(server.app, "POST", "/v1/workflows/greet/runs", {
        json: { input: { name: "x" } },
      }),
      503,
      "ENGINE_CLOSED",
    );
    expect((await call(server.app, "GET", "/healthz")).status).toBe(200);
  });
});
