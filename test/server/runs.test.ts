import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type { HistoryEvent, Run } from "../../src/index.js";
import type { ServiceInfo, Task } from "../../src/common/index.js";
import {
  HistoryEventSchema,
  RunPageSchema,
  RunSchema,
  ServiceInfoSchema,
  TaskSchema,
  WorkflowSummarySchema,
} from "../../src/server/schemas/wire.js";
import { waitFor } from "../support/wait-for.js";
import { call } from "./http.js";
import { serverFixture } from "./server-fixture.js";

describe("the documented wire schemas", () => {
  it("describe the engine's own types", () => {
    expectTypeOf<Run>().toExtend<z.infer<typeof RunSchema>>();
    expectTypeOf<HistoryEvent>().toExtend<z.infer<typeof HistoryEventSchema>>();
    expectTypeOf<ServiceInfo>().toExtend<z.infer<typeof ServiceInfoSchema>>();
    expectTypeOf<Task>().toExtend<z.infer<typeof TaskSchema>>();
  });
});

describe("runs over HTTP", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("starts a run idempotently: 201 with the new run, then 200 with the same run", async () => {
    const { server } = await fixture.open();
    const body = { input: { name: "ada" }, runId: "order-1" };
    const created = await call(server.app, "POST", "/v1/workflows/greet/runs", { json: body });
    expect(created.status).toBe(201);
    expect(RunSchema.parse(created.body)).toMatchObject({
      runId: "order-1",
      workflow: "greet",
      input: { name: "ada" },
    });
    expect(created.body).not.toHaveProperty("created");
    const again = await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { ...body, input: { name: "someone else" } },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      runId: "order-1",
      input: { name: "ada" },
      createdAt: created.body.createdAt,
    });
    const { runs } = (await call(server.app, "GET", "/v1/runs?workflow=greet")).body;
    expect(runs).toHaveLength(1);
  });

  it("takes the Idempotency-Key header as the runId when the body has none", async () => {
    const { server } = await fixture.open();
    const start = () =>
      call(server.app, "POST", "/v1/workflows/greet/runs", {
        json: { input: { name: "bo" } },
        headers: { "idempotency-key": "key:2024-01-01~a.b_c" },
      });
    const first = await start();
    expect(first.status).toBe(201);
    expect(first.body.runId).toBe("key:2024-01-01~a.b_c");
    const second = await start();
    expect(second.status).toBe(200);
    expect(second.body.runId).toBe("key:2024-01-01~a.b_c");
    // The body's runId wins over the header.
    const both = await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "bo" }, runId: "from-body" },
      headers: { "idempotency-key": "from-header" },
    });
    expect(both.body.runId).toBe("from-body");
  });

  it("generates a runId when neither body nor header names one", async () => {
    const { server } = await fixture.open();
    const first = await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "a" } },
    });
    const second = await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "a" } },
    });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(first.body.runId).not.toBe(second.body.runId);
  });

  it("with ?wait answers with the terminal run, or with the run as it is when the wait ends", async () => {
    const { server } = await fixture.open();
    const done = await call(server.app, "POST", "/v1/workflows/napper/runs?wait=10", {
      json: { input: { ms: 50 }, runId: "nap-1" },
    });
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ status: "completed", output: { slept: 50 } });

    const started = Date.now();
    const waiting = await call(server.app, "POST", "/v1/workflows/approval/runs?wait=0.3", {
      json: { runId: "wait-1" },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(waiting.status).toBe(201);
    expect(waiting.body).toMatchObject({
      status: "waiting",
      waitingOn: { kind: "signal", signal: "decision" },
    });

    // An existing terminal run answers at once, with 200.
    const existing = await call(server.app, "POST", "/v1/workflows/napper/runs?wait=10", {
      json: { input: { ms: 50 }, runId: "nap-1" },
    });
    expect(existing.status).toBe(200);
    expect(existing.body.status).toBe("completed");
  });

  it("gets a run with its steps, and its history oldest first", async () => {
    const { server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/greet/runs?wait=10", {
      json: { input: { name: "cy" }, runId: "g-1" },
    });
    const run = await call(server.app, "GET", "/v1/runs/g-1");
    expect(run.status).toBe(200);
    expect(RunSchema.parse(run.body)).toMatchObject({
      status: "completed",
      output: { greeting: "hello cy" },
      steps: [{ seq: 1, kind: "call", name: "greeter.greet", status: "completed", attempts: 1 }],
    });
    const history = await call(server.app, "GET", "/v1/runs/g-1/history");
    expect(history.status).toBe(200);
    const events = history.body.events.map((event) => HistoryEventSchema.parse(event));
    expect(events[0]!.type).toBe("run.started");
    expect(events.at(-1)!.type).toBe("run.completed");
    expect(events.map((e) => e.position)).toEqual(
      [...events.keys()].map((i) => events[0]!.position + i),
    );
  });

  it("decodes run ids with : ~ . _ - in paths, encoded or not", async () => {
    const { server } = await fixture.open();
    const runId = "tenant:acme~2024.05_x-1";
    await call(server.app, "POST", "/v1/workflows/greet/runs?wait=10", {
      json: { input: { name: "d" }, runId },
    });
    expect(
      (await call(server.app, "GET", `/v1/runs/${encodeURIComponent(runId)}`)).body.runId,
    ).toBe(runId);
    expect((await call(server.app, "GET", `/v1/runs/${runId}`)).body.runId).toBe(runId);
    expect((await call(server.app, "GET", `/v1/runs/${runId}/history`)).status).toBe(200);
    const longest = "L".repeat(200);
    expect(
      (
        await call(server.app, "POST", "/v1/workflows/greet/runs", {
          json: { input: { name: "e" }, runId: longest },
        })
      ).status,
    ).toBe(201);
    expect((await call(server.app, "GET", `/v1/runs/${longest}`)).body.runId).toBe(longest);
  });

  it("lists runs newest first, filtered by workflow, status and id prefix, page by page", async () => {
    const { server } = await fixture.open();
    for (const id of ["p-1", "p-2", "p-3"]) {
      await call(server.app, "POST", "/v1/workflows/greet/runs?wait=10", {
        json: { input: { name: id }, runId: id },
      });
    }
    await call(server.app, "POST", "/v1/workflows/approval/runs", { json: { runId: "q-1" } });
    // Lists read the stored row, which may trail the run in memory by one commit.
    await waitFor(
      async () => (await call(server.app, "GET", "/v1/runs?status=waiting")).body.runs.length === 1,
    );

    const first = await call(server.app, "GET", "/v1/runs?limit=2");
    expect(RunPageSchema.parse(first.body).runs.map((r) => r.runId)).toEqual(["q-1", "p-3"]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await call(
      server.app,
      "GET",
      `/v1/runs?limit=2&cursor=${encodeURIComponent(first.body.nextCursor!)}`,
    );
    expect(second.body.runs.map((r: Run) => r.runId)).toEqual(["p-2", "p-1"]);

    const byStatus = await call(server.app, "GET", "/v1/runs?status=waiting");
    expect(byStatus.body.runs.map((r: Run) => r.runId)).toEqual(["q-1"]);
    const byWorkflow = await call(server.app, "GET", "/v1/runs?workflow=greet&status=completed");
    expect(byWorkflow.body.runs).toHaveLength(3);
    const byPrefix = await call(server.app, "GET", "/v1/runs?runIdPrefix=p-");
    expect(byPrefix.body.runs.map((r: Run) => r.runId)).toEqual(["p-3", "p-2", "p-1"]);
    expect(byPrefix.body).not.toHaveProperty("nextCursor");
  });

  it("signals a waiting run with 202, and the run resumes with the payload", async () => {
    const { baton, server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/approval/runs", { json: { runId: "s-1" } });
    const sent = await call(server.app, "POST", "/v1/runs/s-1/signals/decision", {
      json: { payload: { approved: true } },
    });
    expect(sent.status).toBe(202);
    expect(sent.body).toEqual({ runId: "s-1" });
    expect(await baton.result("s-1")).toEqual({ decision: { approved: true } });
  });

  it("cancels a run with 202, and it ends cancelled; with or without a body", async () => {
    const { baton, server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/approval/runs", { json: { runId: "c-1" } });
    await call(server.app, "POST", "/v1/workflows/approval/runs", { json: { runId: "c-2" } });
    const withReason = await call(server.app, "POST", "/v1/runs/c-1/cancel", {
      json: { reason: "customer changed their mind" },
    });
    expect(withReason.status).toBe(202);
    const bare = await call(server.app, "POST", "/v1/runs/c-2/cancel", {
      raw: "",
      headers: { "content-type": "application/json" },
    });
    expect(bare.status).toBe(202);
    expect((await baton.wait("c-1")).status).toBe("cancelled");
    expect((await baton.wait("c-2")).status).toBe("cancelled");
  });

  it("retries a failed run with 202", async () => {
    const { baton, server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/doomed/runs", { json: { runId: "f-1" } });
    expect((await baton.wait("f-1")).status).toBe("failed");
    const retried = await call(server.app, "POST", "/v1/runs/f-1/retry");
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ runId: "f-1" });
    await waitFor(async () => {
      const history = await baton.history("f-1");
      return (
        history.some((event) => event.type === "run.retried") &&
        (await baton.get("f-1")).status === "failed"
      );
    });
  });

  it("lists workflows with counts by status, and services with their queues", async () => {
    const { server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/greet/runs?wait=10", {
      json: { input: { name: "w" } },
    });
    await call(server.app, "POST", "/v1/workflows/charge/runs", {
      json: { input: { orderId: "o", cents: 1 }, runId: "ch-1" },
    });
    const workflows = (await call(server.app, "GET", "/v1/workflows")).body.workflows;
    for (const summary of workflows) WorkflowSummarySchema.parse(summary);
    expect(workflows.find((w: { name: string }) => w.name === "greet")).toMatchObject({
      registered: true,
      completed: 1,
      failed: 0,
    });
    await waitFor(async () => {
      const { services } = (await call(server.app, "GET", "/v1/services")).body;
      return services.find((s: ServiceInfo) => s.name === "payments")?.queueDepth === 1;
    });
    const { services } = (await call(server.app, "GET", "/v1/services")).body;
    for (const service of services) ServiceInfoSchema.parse(service);
    expect(services.map((s: ServiceInfo) => [s.name, s.transport])).toEqual([
      ["greeter", "local"],
      ["payments", "queue"],
    ]);
  });

  it("runs a queued command through the worker endpoints: poll, heartbeat, complete", async () => {
    const { baton, server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/charge/runs", {
      json: { input: { orderId: "o-7", cents: 700 }, runId: "w-1" },
    });
    const polled = await call(server.app, "POST", "/v1/services/payments/tasks/poll", {
      json: { workerId: "worker-a", max: 5, waitSeconds: 5 },
    });
    expect(polled.status).toBe(200);
    const task = polled.body.tasks[0]!;
    expect(TaskSchema.parse(task)).toMatchObject({
      service: "payments",
      command: "charge",
      input: { orderId: "o-7", cents: 700 },
      runId: "w-1",
      idempotencyKey: "w-1:1",
      attempt: 1,
    });
    expect(task.taskId).toMatch(/[:@]/);
    const taskPath = `/v1/tasks/${encodeURIComponent(task.taskId)}`;
    const beat = await call(server.app, "POST", `${taskPath}/heartbeat`, {
      json: { details: { progress: 0.5 } },
    });
    expect(beat.status).toBe(200);
    expect(Date.parse(beat.body.leaseExpiresAt)).toBeGreaterThan(Date.now());
    const completed = await call(server.app, "POST", `${taskPath}/complete`, {
      json: { output: { paymentId: "p-7" } },
    });
    expect([completed.status, completed.body]).toEqual([200, {}]);
    // Completing twice is harmless.
    expect(
      (
        await call(server.app, "POST", `${taskPath}/complete`, {
          json: { output: { paymentId: "p-7" } },
        })
      ).status,
    ).toBe(200);
    expect(await baton.result("w-1")).toEqual({ paymentId: "p-7" });
  });

  it("fails a task for good with retryable: false, and the run fails with the worker's code", async () => {
    const { baton, server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/charge/runs", {
      json: { input: { orderId: "o-8", cents: 1 }, runId: "w-2" },
    });
    const polled = await call(server.app, "POST", "/v1/services/payments/tasks/poll", {
      json: { workerId: "w", waitSeconds: 5 },
    });
    const task = polled.body.tasks[0]!;
    const failed = await call(
      server.app,
      "POST",
      `/v1/tasks/${encodeURIComponent(task.taskId)}/fail`,
      {
        json: {
          error: { message: "card declined", type: "CardDeclined", code: "CARD_DECLINED" },
          retryable: false,
        },
      },
    );
    expect(failed.status).toBe(200);
    const run = await baton.wait("w-2");
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "CARD_DECLINED" });
    expect(run.error?.message).toContain("card declined");
  });
});
