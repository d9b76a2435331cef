import { afterEach, describe, expect, it } from "vitest";
import { BatonClient, type BatonClientError } from "../../src/client/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { waitFor } from "../support/wait-for.js";
import { call, expectError } from "./http.js";
import { serverFixture } from "./server-fixture.js";

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number): string => new Date(ms).toISOString();

async function failure(promise: Promise<unknown>): Promise<BatonClientError> {
  return promise.then(
    () => {
      throw new Error("expected the request to fail");
    },
    (e: unknown) => e as BatonClientError,
  );
}

describe("/v1/schedules", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("creates, lists, pauses, resumes, triggers and deletes a schedule through BatonClient", async () => {
    const clock = new ManualClock(T0);
    const { url } = await fixture.listen({}, { clock });
    const client = new BatonClient({ url });
    const saved = await client.saveSchedule({
      name: "hourly",
      cron: "0 * * * *",
      timezone: "Europe/Berlin",
      workflow: "greet",
      input: { name: "Ada" },
    });
    expect(saved.created).toBe(true);
    expect(saved.schedule).toMatchObject({
      name: "hourly",
      workflow: "greet",
      timezone: "Europe/Berlin",
      overlap: "skip",
      catchup: "latest",
      source: "api",
      paused: false,
      input: { name: "Ada" },
      nextFireTimes: [1, 2, 3, 4, 5].map((h) => iso(T0 + h * 3_600_000)),
      lastRuns: [],
    });
    const again = await client.saveSchedule({
      name: "hourly",
      cron: "0 * * * *",
      workflow: "greet",
      input: { name: "Bo" },
    });
    expect(again).toMatchObject({
      created: false,
      schedule: { input: { name: "Bo" }, timezone: "UTC" },
    });

    expect(await client.pauseSchedule("hourly")).toMatchObject({ paused: true, nextFireTimes: [] });
    const { runId } = await client.triggerSchedule("hourly");
    expect(runId).toBe(`hourly:manual:${iso(T0)}`);
    expect((await client.getRun(runId)).input).toEqual({ name: "Bo" });
    expect(await client.resumeSchedule("hourly")).toMatchObject({
      paused: false,
      nextFireTimes: [1, 2, 3, 4, 5].map((h) => iso(T0 + h * 3_600_000)),
    });
    const [listed] = await client.listSchedules();
    expect(listed).toMatchObject({ name: "hourly", lastRuns: [{ runId }] });

    await client.deleteSchedule("hourly");
    expect(await client.listSchedules()).toEqual([]);
    const gone = await failure(client.getSchedule("hourly"));
    expect({ code: gone.code, status: gone.httpStatus }).toEqual({
      code: "SCHEDULE_NOT_FOUND",
      status: 404,
    });
    for (const act of [
      client.pauseSchedule("hourly"),
      client.triggerSchedule("hourly"),
      client.deleteSchedule("hourly"),
    ]) {
      expect((await failure(act)).code).toBe("SCHEDULE_NOT_FOUND");
    }
  });

  it("counts the ticks fired and skipped in /metrics", async () => {
    const clock = new ManualClock(T0);
    const { server, baton } = await fixture.open({}, { clock });
    await baton.schedules.save("waits", { cron: "*/10 * * * * *", workflow: "approval" });
    clock.advance(10_000);
    await waitFor(async () => (await baton.schedules.get("waits")).firedCount === 1, {
      what: "a tick",
    });
    clock.advance(10_000); // the first run waits for a signal: this tick is skipped (overlap)
    await waitFor(async () => (await baton.schedules.get("waits")).skippedCount === 1, {
      what: "a skip",
    });
    const metrics = (await call(server.app, "GET", "/metrics")).text;
    expect(metrics).toContain('baton_schedule_ticks_total{schedule="waits",outcome="fired"} 1');
    expect(metrics).toContain(
      'baton_schedule_ticks_total{schedule="waits",outcome="skipped_overlap"} 1',
    );
    expect(metrics).toContain(
      'baton_schedule_ticks_total{schedule="waits",outcome="skipped_missed"} 0',
    );
  });

  it.each([
    { body: { name: "x", cron: "every monday", workflow: "approval" }, code: "INVALID_CRON" },
    {
      body: { name: "x", cron: "0 3 * * *", timezone: "Europe/Atlantis", workflow: "approval" },
      code: "INVALID_TIMEZONE",
    },
    { body: { name: "x", cron: "0 3 * * *", workflow: "nowhere" }, code: "UNKNOWN_WORKFLOW" },
    {
      body: { name: "x", cron: "0 3 * * *", workflow: "approval", overlap: "queue" },
      code: "INVALID_SCHEDULE",
    },
    {
      body: { name: "x", cron: "0 3 * * *", workflow: "approval", catchup: "every" },
      code: "INVALID_SCHEDULE",
    },
    { body: { name: "9lives", cron: "0 3 * * *", workflow: "approval" }, code: "INVALID_SCHEDULE" },
    { body: { name: "x", cron: 5, workflow: "approval" }, code: "INVALID_CRON" },
    {
      body: { name: "x", cron: "0 3 * * *", workflow: "approval", every: "day" },
      code: "INVALID_ARGUMENT",
    },
  ])("refuses $body with 400 $code and changes nothing", async ({ body, code }) => {
    const { server } = await fixture.open();
    await call(server.app, "POST", "/v1/schedules", {
      json: { name: "keep", cron: "0 3 * * *", workflow: "approval" },
    });
    const before = await call(server.app, "GET", "/v1/schedules");
    expect(before.text).toContain('"name":"keep"');
    expectError(await call(server.app, "POST", "/v1/schedules", { json: body }), 400, code);
    expect((await call(server.app, "GET", "/v1/schedules")).body).toEqual(before.body);
  });

  it("refuses with 422 INPUT_INVALID an input the workflow's schema refuses, storing nothing", async () => {
    const { server } = await fixture.open();
    expectError(
      await call(server.app, "POST", "/v1/schedules", {
        json: { name: "hello", cron: "0 3 * * *", workflow: "greet", input: { name: "" } },
      }),
      422,
      "INPUT_INVALID",
    );
    expect((await call(server.app, "GET", "/v1/schedules")).body).toEqual({ schedules: [] });
  });

  it("refuses to replace a schedule with a bad spec, keeping the one it has", async () => {
    const { server } = await fixture.open();
    const created = await call(server.app, "POST", "/v1/schedules", {
      json: { name: "keep", cron: "0 3 * * *", workflow: "approval" },
    });
    expect(created.status).toBe(201);
    expectError(
      await call(server.app, "POST", "/v1/schedules", {
        json: { name: "keep", cron: "0 3 * * *", workflow: "gone" },
      }),
      400,
      "UNKNOWN_WORKFLOW",
    );
    expect((await call(server.app, "GET", "/v1/schedules/keep")).body).toEqual(created.body);
  });
});
