import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { isValidRunId } from "../../src/common/index.js";
import { waitFor } from "../support/wait-for.js";
import { call } from "./http.js";
import { serverFixture } from "./server-fixture.js";

/** Every route users rely on (docs/http-api.md), as the OpenAPI document must list it. */
const API_ROUTES = [
  "post /v1/workflows/{workflow}/runs",
  "get /v1/runs/{runId}",
  "get /v1/runs",
  "get /v1/runs/{runId}/history",
  "get /v1/runs/{runId}/stream",
  "post /v1/runs/{runId}/signals/{name}",
  "post /v1/runs/{runId}/cancel",
  "post /v1/runs/{runId}/retry",
  "post /v1/runs/{runId}/compensations/{seq}/skip",
  "get /v1/workflows",
  "get /v1/services",
  "post /v1/services/{service}/tasks/poll",
  "post /v1/tasks/{taskId}/complete",
  "post /v1/tasks/{taskId}/fail",
  "post /v1/tasks/{taskId}/heartbeat",
  "post /v1/events",
  "get /v1/events",
  "post /v1/schedules",
  "get /v1/schedules",
  "get /v1/schedules/{name}",
  "post /v1/schedules/{name}/pause",
  "post /v1/schedules/{name}/resume",
  "post /v1/schedules/{name}/trigger",
  "delete /v1/schedules/{name}",
  "post /v1/subscriptions",
  "get /v1/subscriptions",
  "get /v1/subscriptions/{id}",
  "delete /v1/subscriptions/{id}",
  "get /v1/subscriptions/{id}/deliveries",
  "get /healthz",
  "get /readyz",
  "get /metrics",
];

/** The parts of an OpenAPI document these tests read. */
interface Operation {
  summary?: string;
  security?: unknown;
  parameters?: Array<{ name: string; in: string; schema?: { pattern?: string } }>;
  requestBody?: { required?: boolean };
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

async function openApiDocument(app: FastifyInstance): Promise<OpenApiDocument> {
  const answer = await call(app, "GET", "/openapi.json");
  expect(answer.status).toBe(200);
  return JSON.parse(answer.text) as OpenApiDocument;
}

function metricLine(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("health, readiness", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("answers /healthz and /readyz with 200 while the engine is open", async () => {
    const { server } = await fixture.open();
    expect(await call(server.app, "GET", "/healthz")).toMatchObject({
      status: 200,
      body: { status: "ok" },
    });
    expect(await call(server.app, "GET", "/readyz")).toMatchObject({
      status: 200,
      body: { status: "ok" },
    });
  });
});

describe("Prometheus metrics", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("exposes run counts, step durations, retries, compensations, finished runs and queue gauges", async () => {
    const { baton, server } = await fixture.open();
    await call(server.app, "POST", "/v1/workflows/greet/runs?wait=10", {
      json: { input: { name: "m" } },
    });
    const saga = await call(server.app, "POST", "/v1/workflows/saga/runs?wait=10", {
      json: { runId: "saga-1" },
    });
    expect(saga.body.status).toBe("compensated");
    for (const orderId of ["o-1", "o-2"]) {
      await call(server.app, "POST", "/v1/workflows/charge/runs", {
        json: { input: { orderId, cents: 1 }, runId: orderId },
      });
    }
    await waitFor(
      async () =>
        (await baton.engine.services()).find((s) => s.name === "payments")?.queueDepth === 2 &&
        (await baton.list({ workflow: "charge", status: "waiting" })).runs.length === 2,
    );
    await call(server.app, "POST", "/v1/services/payments/tasks/poll", {
      json: { workerId: "w-1", max: 1 },
    });

    const metrics = await call(server.app, "GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = metrics.text;
    for (const name of [
      "baton_runs",
      "baton_step_duration_seconds",
      "baton_step_retries_total",
      "baton_compensations_total",
      "baton_runs_finished_total",
      "baton_queue_depth",
      "baton_tasks_in_flight",
      "baton_workers",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(metricLine(text, "baton_runs", 'workflow="greet",status="completed"')).toBe(1);
    expect(metricLine(text, "baton_runs", 'workflow="charge",status="waiting"')).toBe(2);
    expect(
      metricLine(
        text,
        "baton_step_duration_seconds_count",
        'workflow="greet",kind="call",name="greeter.greet",outcome="completed"',
      ),
    ).toBe(1);
    expect(
      metricLine(
        text,
        "baton_step_duration_seconds_count",
        'workflow="saga",kind="step",name="explode",outcome="failed"',
      ),
    ).toBe(1);
    expect(
      metricLine(text, "baton_step_retries_total", 'workflow="saga",kind="step",name="wobble"'),
    ).toBe(1);
    expect(metricLine(text, "baton_compensations_total", 'workflow="saga"')).toBe(1);
    expect(
      metricLine(text, "baton_runs_finished_total", 'workflow="saga",status="compensated"'),
    ).toBe(1);
    expect(
      metricLine(text, "baton_runs_finished_total", 'workflow="greet",status="completed"'),
    ).toBe(1);
    expect(metricLine(text, "baton_queue_depth", 'service="payments"')).toBe(1);
    expect(metricLine(text, "baton_tasks_in_flight", 'service="payments"')).toBe(1);
    expect(metricLine(text, "baton_workers", 'service="payments"')).toBe(1);
  });

  it("gives every server a registry of its own: two in one process do not clash", async () => {
    const first = await fixture.open({ processMetrics: true });
    const second = await fixture.open({ processMetrics: true });
    await call(first.server.app, "POST", "/v1/workflows/greet/runs?wait=10", {
      json: { input: { name: "1" } },
    });
    const [a, b] = await Promise.all([
      call(first.server.app, "GET", "/metrics"),
      call(second.server.app, "GET", "/metrics"),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.text).toContain("process_cpu_user_seconds_total");
    expect(b.text).toContain("nodejs_eventloop_lag_seconds");
    expect(metricLine(a.text, "baton_runs", 'workflow="greet",status="completed"')).toBe(1);
    expect(metricLine(b.text, "baton_runs", 'workflow="greet",status="completed"')).toBe(0);
  });
});

describe("the OpenAPI document", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("is OpenAPI 3.1, lists every route of the contract, and every reference resolves", async () => {
    const { server } = await fixture.open();
    const document = await openApiDocument(server.app);
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });

    const listed = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method} ${path}`),
    );
    expect(listed.sort()).toEqual([...API_ROUTES].sort());

    for (const [path, operations] of Object.entries(document.paths)) {
      for (const operation of Object.values(operations)) {
        expect(Object.keys(operation.responses).length).toBeGreaterThan(0);
        expect(operation.summary).toEqual(expect.any(String));
        if (path.startsWith("/v1/")) expect(operation.security).toEqual([{ bearerAuth: [] }]);
        // Path parameters are declared for every {name} in the path.
        const declared = (operation.parameters ?? [])
          .filter((p) => p.in === "path")
          .map((p) => p.name)
          .sort();
        expect(declared).toEqual([...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort());
      }
    }

    const schemas = document.components.schemas;
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining(["Run", "Task", "ErrorBody", "BatonEvent"]),
    );
    const refs = [
      ...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g),
    ].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(schemas).toHaveProperty(ref!);
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({
      type: "http",
      scheme: "bearer",
    });

    const start = document.paths["/v1/workflows/{workflow}/runs"]!.post!;
    expect(Object.keys(start.responses)).toEqual(
      expect.arrayContaining(["200", "201", "400", "404", "409", "413", "422"]),
    );
    expect(start.responses["201"]!.content!["application/json"]!.schema).toEqual({
      $ref: "#/components/schemas/Run",
    });
    expect(document.paths["/v1/runs/{runId}/retry"]!.post!.requestBody!.required).toBe(false);
    expect(
      document.paths["/v1/runs/{runId}/compensations/{seq}/skip"]!.post!.requestBody!.required,
    ).toBe(false);
    expect(document.paths["/v1/services/{service}/tasks/poll"]!.post!.requestBody!.required).toBe(
      true,
    );
  });

  it("states the run id rule the engine enforces", async () => {
    const { server } = await fixture.open();
    const document = await openApiDocument(server.app);
    const runIdParameter = document.paths["/v1/runs/{runId}"]!.get!.parameters!.find(
      (p) => p.name === "runId",
    );
    const pattern = new RegExp(runIdParameter!.schema!.pattern!);
    for (const candidate of [
      "a",
      "run-1",
      "a:b~c.d_e-f",
      "x".repeat(200),
      "x".repeat(201),
      "",
      "a b",
      "a/b",
      "é",
    ]) {
      expect(pattern.test(candidate)).toBe(isValidRunId(candidate));
    }
  });
});
