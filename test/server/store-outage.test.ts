import { afterEach, expect, it } from "vitest";
import { Baton, silentLogger } from "../../src/index.js";
import { describePostgres, freshDatabase, type TestDatabase } from "../support/postgres.js";
import { waitFor } from "../support/wait-for.js";
import { SERVICES, WORKFLOWS } from "./server-fixture.js";
import { TcpProxy } from "./tcp-proxy.js";

interface Answer {
  status: number;
  body: {
    status?: string;
    runs?: Array<{ runId: string }>;
    error?: { code: string; message: string };
  };
  headers: Headers;
  text: string;
}

async function get(url: string): Promise<Answer> {
  const response = await fetch(url);
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Answer["body"]) : {},
    headers: response.headers,
    text,
  };
}

async function startRun(
  url: string,
  runId: string,
): Promise<{ status: number; run: { status?: string } }> {
  const response = await fetch(`${url}/v1/workflows/greet/runs?wait=20`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ runId, input: { name: runId } }),
  });
  return { status: response.status, run: (await response.json()) as { status?: string } };
}

function expectUnavailable(answer: Answer): void {
  expect({ status: answer.status, code: answer.body.error?.code }).toEqual({
    status: 503,
    code: "STORE_UNAVAILABLE",
  });
  expect(Object.keys(answer.body)).toEqual(["error"]);
  expect(answer.body.error?.message).toMatch(/the database cannot be reached|did not answer/);
  expect(answer.text).not.toMatch(/\n\s+at /);
}

describePostgres("the server while its PostgreSQL database is unreachable", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("answers /readyz and API calls 503 STORE_UNAVAILABLE while cut, and recovers without a restart", async () => {
    const database: TestDatabase = await freshDatabase();
    cleanups.push(() => database.drop());
    const target = new URL(database.url);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
    cleanups.push(() => proxy.close());
    const proxied = new URL(database.url);
    proxied.host = `127.0.0.1:${proxy.port}`;
    // Short limits, so that a black hole shows within seconds.
    proxied.searchParams.set("connect_timeout", "1");
    proxied.searchParams.set("query_timeout", "1500");
    proxied.searchParams.set("pool", "4");

    const baton = await Baton.open({
      db: proxied.toString(),
      workflows: WORKFLOWS,
      services: SERVICES,
      logger: silentLogger,
      nodeId: "outage-node",
      leaseMs: 3_000,
    });
    cleanups.push(() => baton.close());
    const { url } = await baton.serve({ port: 0, logger: false });
    expect(await startRun(url, "before")).toMatchObject({
      status: 201,
      run: { status: "completed" },
    });

    const held = await fetch(`${url}/v1/workflows/approval/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runId: "held", input: {} }),
    });
    expect(held.status).toBe(201);
    await waitFor(async () => (await get(`${url}/v1/runs/held`)).body.status === "waiting", {
      timeoutMs: 10_000,
      intervalMs: 50,
    });

    // A partition: connections stay open, nothing answers.
    proxy.blackhole();
    await waitFor(async () => (await get(`${url}/readyz`)).status === 503, {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    expectUnavailable(await get(`${url}/readyz`));
    const started = Date.now();
    const runs = await get(`${url}/v1/runs`);
    expectUnavailable(runs);
    expect(runs.headers.get("retry-after")).toBe("1");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await get(`${url}/healthz`)).status).toBe(200);

    await proxy.restore();
    await waitFor(async () => (await get(`${url}/readyz`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await waitFor(async () => (await get(`${url}/v1/runs`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect((await get(`${url}/v1/runs`)).body.runs?.map((run) => run.runId)).toContain("before");

    // The database down: connections reset, new ones refused.
    await proxy.refuse();
    await waitFor(async () => (await get(`${url}/readyz`)).status === 503, {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    expectUnavailable(await get(`${url}/v1/runs`));
    expectUnavailable(await get(`${url}/v1/runs/before`));

    await proxy.restore();
    await waitFor(async () => (await get(`${url}/readyz`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await waitFor(async () => (await get(`${url}/v1/runs/before`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    // A run that waited through both outages takes its signal and ends.
    const signalled = await fetch(`${url}/v1/runs/held/signals/decision`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ payload: "approved" }),
    });
    expect(signalled.status).toBe(202);
    await waitFor(async () => (await get(`${url}/v1/runs/held`)).body.status === "completed", {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect(await startRun(url, "after")).toMatchObject({
      status: 201,
      run: { status: "completed" },
    });
  });
});
