import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  BatonClient,
  BatonClientError,
  type BatonEvent,
  type Run,
} from "../../src/client/index.js";
import { silentLogger } from "../../src/common/index.js";
import { BatonError, StepFailedError, queue, service, workflow } from "../../src/index.js";
import { batonFixture } from "../support/open-baton.js";
import { stuckRollbackWorkflow } from "../support/stuck-rollback.js";
import { waitFor } from "../support/wait-for.js";
import { freePort } from "../transport/service-server.js";

let failCharges = true;

const greet = workflow("greet", async (ctx, input: { name: string }) => {
  return ctx.step("greet", () => `hello ${input.name}`);
});

const approval = workflow("approval", async (ctx, input: { item: string }) => {
  await ctx.step("book", () => ({ booked: input.item }), {
    compensate: () => ctx.step("unbook", () => ({ unbooked: input.item })),
  });
  const decision = await ctx.waitForSignal<{ by: string }>("approve");
  return { approvedBy: decision.by };
});

const flaky = workflow("flaky", async (ctx) => {
  return ctx.step("charge", () => {
    if (failCharges) throw new StepFailedError("gateway said no", { code: "DECLINED" });
    return { charged: true };
  });
});

const typed = workflow("typed", async (_ctx, input: { n: number }) => input.n * 2, {
  input: z.object({ n: z.number() }),
});

const stuck = stuckRollbackWorkflow("stuck");

const mailer = service("mailer", queue({ leaseMs: 2_000 }));
const notify = workflow("notify", async (ctx, input: { to: string }) => {
  return ctx.call(mailer, "send", input);
});

describe("BatonClient against a real server", () => {
  const fixture = batonFixture();
  afterEach(async () => {
    failCharges = true;
    await fixture.cleanup();
  });

  async function serve(options: { token?: string } = {}) {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [greet, approval, flaky, typed, notify, stuck],
      services: [mailer],
      logger: silentLogger,
    });
    const { url } = await baton.serve({ port: 0, logger: false, runRefreshMs: 50, ...options });
    return { baton, url, client: new BatonClient({ url, ...options }) };
  }

  it("starts a run once per run id, and waits for it when asked", async () => {
    const { client } = await serve();
    const first = await client.startRun(greet, { name: "Ada" }, { runId: "g-1", waitSeconds: 10 });
    expect(first.created).toBe(true);
    expect(first.run).toMatchObject({
      runId: "g-1",
      workflow: "greet",
      status: "completed",
      output: "hello Ada",
    });
    const again = await client.startRun("greet", { name: "Bob" }, { runId: "g-1" });
    expect(again.created).toBe(false);
    expect(again.run.input).toEqual({ name: "Ada" });
    const keyed = await client.startRun("greet", { name: "Cy" }, { idempotencyKey: "g-key" });
    expect(keyed.run.runId).toBe("g-key");
  });

  it("reads a run, its steps and its history", async () => {
    const { client } = await serve();
    await client.startRun(greet, { name: "Ada" }, { runId: "g-2", waitSeconds: 10 });
    const run = await client.getRun("g-2");
    expect(run.steps).toEqual([
      expect.objectContaining({
        seq: 1,
        kind: "step",
        name: "greet",
        status: "completed",
        output: "hello Ada",
      }),
    ]);
    const history = await client.history("g-2");
    expect(history[0]).toMatchObject({ position: 0 });
    expect(history.map((e) => e.position)).toEqual([...history.keys()]);
    expect(history.length).toBeGreaterThan(2);
  });

  it("lists runs newest first with filters and pages", async () => {
    const { client } = await serve();
    for (const id of ["p-1", "p-2", "p-3"])
      await client.startRun(greet, { name: id }, { runId: id, waitSeconds: 10 });
    await client.startRun(approval, { item: "x" }, { runId: "other-1" });
    const first = await client.listRuns({ workflow: "greet", limit: 2 });
    expect(first.runs.map((r) => r.runId)).toEqual(["p-3", "p-2"]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await client.listRuns({
      workflow: "greet",
      limit: 2,
      cursor: first.nextCursor!,
    });
    expect(second.runs.map((r) => r.runId)).toEqual(["p-1"]);
    expect(second.nextCursor).toBeUndefined();
    expect((await client.listRuns({ runIdPrefix: "other" })).runs.map((r) => r.runId)).toEqual([
      "other-1",
    ]);
    expect((await client.listRuns({ status: "completed" })).runs).toHaveLength(3);
  });

  it("streams a run's snapshots and ends after the terminal one", async () => {
    const { client } = await serve();
    await client.startRun(approval, { item: "desk" }, { runId: "a-1" });
    const seen: Run[] = [];
    let signalled = false;
    for await (const run of client.streamRun("a-1")) {
      seen.push(run);
      // The same wait may show twice (as it began, then as written); signal it once.
      if (!signalled && run.status === "waiting" && run.waitingOn?.kind === "signal") {
        signalled = true;
        await client.signal("a-1", "approve", { by: "Grace" });
      }
    }
    expect(seen.at(-1)).toMatchObject({ status: "completed", output: { approvedBy: "Grace" } });
    expect(seen.some((r) => r.waitingOn?.signal === "approve")).toBe(true);
    // A terminal run streams once and ends.
    const after: Run[] = [];
    for await (const run of client.streamRun("a-1")) after.push(run);
    expect(after.map((r) => r.status)).toEqual(["completed"]);
  });

  it("cancels a waiting run, which compensates, and refuses to cancel it twice", async () => {
    const { client } = await serve();
    await client.startRun(approval, { item: "car" }, { runId: "c-1" });
    await waitFor(async () => (await client.getRun("c-1")).status === "waiting");
    await client.cancel("c-1", { reason: "customer changed their mind" });
    const run = await waitFor(async () => {
      const r = await client.getRun("c-1");
      return r.status === "cancelled" && r;
    });
    expect(run.steps.map((s) => s.name)).toContain("unbook");
    const error = await client.cancel("c-1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatonClientError);
    expect(error).toMatchObject({ code: "RUN_TERMINAL", httpStatus: 409, retryable: false });
    await expect(client.signal("c-1", "approve", {})).rejects.toMatchObject({
      code: "RUN_TERMINAL",
    });
  });

  it("retries a failed run where it stopped", async () => {
    const { client } = await serve();
    const { run } = await client.startRun(flaky, {}, { runId: "f-1", waitSeconds: 10 });
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("DECLINED");
    await expect(client.retry("g-none")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    failCharges = false;
    await client.retry("f-1");
    const statuses: string[] = [];
    for await (const r of client.streamRun("f-1")) statuses.push(r.status);
    expect(statuses.at(-1)).toBe("completed");
    await expect(client.retry("f-1")).rejects.toMatchObject({
      code: "RUN_NOT_FAILED",
      httpStatus: 409,
    });
  });

  it("skips a failed compensation, and the run ends partially compensated", async () => {
    const { client } = await serve();
    await client.startRun(stuck, {}, { runId: "s-1" });
    // The engine checks the action against the stored row, which the list reads.
    await waitFor(async () => {
      const { runs } = await client.listRuns({ runIdPrefix: "s-1" });
      return runs[0]?.waitingOn?.kind === "operator";
    });
    const waiting = await client.getRun("s-1");
    expect(waiting.waitingOn).toMatchObject({ kind: "operator", compensates: 1, step: "reserve" });
    await expect(client.skipCompensation("s-1", 2)).rejects.toMatchObject({
      code: "NO_FAILED_COMPENSATION",
      httpStatus: 409,
    });
    await expect(client.skipCompensation("s-1", 0)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(client.skipCompensation("nobody", 1)).rejects.toMatchObject({
      code: "RUN_NOT_FOUND",
      httpStatus: 404,
    });

    await client.skipCompensation("s-1", waiting.waitingOn!.compensates!);
    let last: Run | undefined;
    for await (const r of client.streamRun("s-1")) last = r;
    expect(last).toMatchObject({ status: "failed", error: { code: "PARTIALLY_COMPENSATED" } });
    await expect(client.skipCompensation("s-1", 1)).rejects.toMatchObject({
      code: "RUN_TERMINAL",
      httpStatus: 409,
    });
  });

  it("starts a run with a deadline, and it fails when the deadline passes", async () => {
    const { client } = await serve();
    await client.startRun(approval, { item: "desk" }, { runId: "d-1", deadline: 100 });
    let last: Run | undefined;
    for await (const r of client.streamRun("d-1")) last = r;
    expect(last?.error?.code).toBe("DEADLINE_EXCEEDED");
    await expect(
      client.startRun(approval, { item: "desk" }, { runId: "d-2", deadline: 0 }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT", httpStatus: 400 });
  });

  it("describes workflows and services, and answers health checks", async () => {
    const { client } = await serve();
    await client.startRun(greet, { name: "x" }, { runId: "w-1", waitSeconds: 10 });
    const workflows = await client.workflows();
    expect(workflows.find((w) => w.name === "greet")).toMatchObject({
      registered: true,
      completed: 1,
      failed: 0,
    });
    expect(await client.services()).toEqual([
      expect.objectContaining({ name: "mailer", transport: "queue", leaseMs: 2_000 }),
    ]);
    expect(await client.health()).toEqual({ status: "ok" });
  });

  it("follows run events by topic until aborted", async () => {
    const { client } = await serve();
    const controller = new AbortController();
    const received: BatonEvent[] = [];
    const following = (async () => {
      for await (const event of client.events({ topics: ["run.*"], signal: controller.signal })) {
        received.push(event);
        if (event.type === "run.completed" && event.runId === "e-2") controller.abort();
      }
    })();
    // The subscription is live only: start runs until the stream is seen to be attached.
    await waitFor(async () => {
      await client.startRun(
        greet,
        { name: "e" },
        { runId: `e-${received.length === 0 ? 1 : 2}`, waitSeconds: 10 },
      );
      return received.length > 0;
    });
    await client.startRun(greet, { name: "e" }, { runId: "e-2", waitSeconds: 10 });
    await following;
    expect(received.every((e) => e.type.startsWith("run."))).toBe(true);
    expect(received.find((e) => e.runId === "e-2" && e.type === "run.completed")).toMatchObject({
      workflow: "greet",
      status: "completed",
    });
  });

  it("turns error answers into BatonErrors carrying the server's code, message and details", async () => {
    const { client } = await serve();
    const missing = await client.getRun("nope").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BatonError);
    expect(missing).toMatchObject({
      name: "BatonClientError",
      code: "RUN_NOT_FOUND",
      httpStatus: 404,
    });
    expect((missing as Error).message).toContain("nope");
    await expect(client.startRun("typed", { n: "two" })).rejects.toMatchObject({
      code: "INPUT_INVALID",
      httpStatus: 422,
      details: expect.anything(),
    });
    await expect(client.startRun("greet", {}, { runId: "bad id!" })).rejects.toMatchObject({
      code: "INVALID_RUN_ID",
      httpStatus: 400,
    });
    await expect(client.startRun("ghost", {})).rejects.toMatchObject({
      code: "WORKFLOW_NOT_FOUND",
      httpStatus: 404,
    });
    await expect(client.listRuns({ status: "bogus" as "failed" })).rejects.toMatchObject({
      httpStatus: 400,
    });
    const stream = client.streamRun("nope")[Symbol.asyncIterator]();
    await expect(stream.next()).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });

  it("needs the token when the server has one", async () => {
    const { url, client } = await serve({ token: "s3cret" });
    await client.startRun(greet, { name: "t" }, { runId: "t-1", waitSeconds: 10 });
    const anonymous = new BatonClient({ url });
    await expect(anonymous.getRun("t-1")).rejects.toMatchObject({
      code: "UNAUTHORIZED",
      httpStatus: 401,
    });
    expect(await anonymous.health()).toEqual({ status: "ok" });
  });

  it("reports an unreachable server as UNAVAILABLE, naming the URL", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const error = await new BatonClient({ url }).getRun("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatonClientError);
    expect(error).toMatchObject({ code: "UNAVAILABLE", retryable: true, httpStatus: undefined });
    expect((error as Error).message).toContain(url);
    expect((error as Error).message).toContain("ECONNREFUSED");
  });

  it("speaks the worker protocol: poll, heartbeat, complete, fail", async () => {
    const { client } = await serve();
    await client.startRun(notify, { to: "ada@example.test" }, { runId: "n-1" });
    const [task] = await client.pollTasks("mailer", { workerId: "w-test", waitSeconds: 5 });
    expect(task).toMatchObject({
      command: "send",
      input: { to: "ada@example.test" },
      runId: "n-1",
      idempotencyKey: "n-1:1",
      attempt: 1,
    });
    const { leaseExpiresAt } = await client.heartbeatTask(task!.taskId, { progress: 0.5 });
    expect(Date.parse(leaseExpiresAt!)).toBeGreaterThan(Date.now());
    await client.completeTask(task!.taskId, { messageId: "m-1" });
    await client.completeTask(task!.taskId, { messageId: "m-1" }); // twice is harmless
    const { run } = await client.startRun(notify, {}, { runId: "n-1", waitSeconds: 10 });
    expect(run).toMatchObject({ status: "completed", output: { messageId: "m-1" } });
    expect(await client.pollTasks("mailer", { workerId: "w-test" })).toEqual([]);
    await expect(client.failTask("t-unknown", { error: { message: "x" } })).rejects.toMatchObject({
      code: "TASK_NOT_FOUND",
      httpStatus: 404,
    });
    await expect(client.pollTasks("nope", { workerId: "w" })).rejects.toMatchObject({
      code: "SERVICE_NOT_FOUND",
    });

    await client.startRun(notify, { to: "bob@example.test" }, { runId: "n-2" });
    const [second] = await client.pollTasks("mailer", { workerId: "w-test", waitSeconds: 5 });
    await client.failTask(second!.taskId, {
      error: { message: "mailbox full", type: "MailboxFull", code: "MAILBOX_FULL" },
      retryable: false,
    });
    const failed = await client.startRun(notify, {}, { runId: "n-2", waitSeconds: 10 });
    expect(failed.run.status).toBe("failed");
    expect(failed.run.error?.code).toBe("MAILBOX_FULL");
  });

  it("ends a long poll early when its signal aborts", async () => {
    const { client } = await serve();
    const controller = new AbortController();
    const started = Date.now();
    const polling = client.pollTasks("mailer", {
      workerId: "w",
      waitSeconds: 30,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error("enough")), 100);
    await expect(polling).rejects.toThrow("enough");
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
