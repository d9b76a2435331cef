import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/common/index.js";
import { http, service, workflow, type BatonEvent, type RetryPolicy } from "../../src/index.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";
import {
  freePort,
  reply,
  startService,
  type RunningService,
  type ServiceHandler,
} from "./service-server.js";

const FAST_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialIntervalMs: 5,
  maxIntervalMs: 20,
  jitter: 0,
};

/** reserve → charge, with reserve compensated by release: the order saga, over HTTP. */
function orderWorkflow(retry: RetryPolicy = FAST_RETRY, timeout?: number) {
  const svc = "shop";
  return workflow(
    "order",
    async (ctx, input: { orderId: string }) => {
      const reservation = await ctx.call<{ reservationId: string }>(svc, "reserve", input, {
        compensate: (r) => ctx.call(svc, "release", r),
      });
      const payment = await ctx.call(svc, "charge", { ...input, ...reservation });
      return { reservation, payment };
    },
    { retry, ...(timeout !== undefined ? { timeout } : {}) },
  );
}

describe("direct calls over HTTP", () => {
  const fixture = batonFixture();
  const services: RunningService[] = [];
  afterEach(async () => {
    await fixture.cleanup();
    for (const s of services.splice(0)) await s.close();
  });

  async function open(
    handler: ServiceHandler,
    options: { retry?: RetryPolicy; timeout?: number } = {},
  ) {
    const shop = await startService(handler);
    services.push(shop);
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [orderWorkflow(options.retry, options.timeout)],
      services: [service("shop", http(shop.url))],
      logger: silentLogger,
    });
    return { baton, shop };
  }

  it("sends the protocol headers and keeps the idempotency key across retries", async () => {
    const { baton, shop } = await open((req, res, i) => {
      if (req.path === "/reserve" && i < 2) return reply(res, 503, "warming up");
      reply(
        res,
        200,
        req.path === "/reserve" ? { reservationId: "res-1" } : { paymentId: "pay-1" },
      );
    });
    await baton.start("order", { orderId: "o-1" }, { runId: "o-1" });
    expect(await baton.result("o-1")).toEqual({
      reservation: { reservationId: "res-1" },
      payment: { paymentId: "pay-1" },
    });
    const reserves = shop.requests.filter((r) => r.path === "/reserve");
    expect(reserves).toHaveLength(3);
    expect(reserves.map((r) => r.headers["idempotency-key"])).toEqual(["o-1:1", "o-1:1", "o-1:1"]);
    expect(reserves.map((r) => r.headers["baton-attempt"])).toEqual(["1", "2", "3"]);
    for (const r of reserves) {
      expect(r.headers).toMatchObject({ "baton-run-id": "o-1", "baton-workflow": "order" });
      expect(r.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(r.body).toEqual({ orderId: "o-1" });
    }
    const charge = shop.requests.find((r) => r.path === "/charge");
    expect(charge?.headers["idempotency-key"]).toBe("o-1:2");
    expect(charge?.body).toEqual({ orderId: "o-1", reservationId: "res-1" });
    const run = await baton.get("o-1");
    expect(run.steps.find((s) => s.name === "shop.reserve")).toMatchObject({ attempts: 3 });
  });

  it("does not retry a 4xx: the run compensates and carries the service's error", async () => {
    const { baton, shop } = await open((req, res) => {
      if (req.path === "/reserve") return reply(res, 200, { reservationId: "res-2" });
      if (req.path === "/charge")
        return reply(res, 402, { error: { code: "CARD_DECLINED", message: "card declined" } });
      reply(res, 200, { released: true });
    });
    await baton.start("order", { orderId: "o-2" }, { runId: "o-2" });
    const run = await baton.wait("o-2");
    expect(run.status).toBe("compensated");
    expect(run.error?.code).toBe("CARD_DECLINED");
    expect(run.error?.message).toContain("card declined");
    expect(shop.requests.map((r) => r.path)).toEqual(["/reserve", "/charge", "/release"]);
    expect(shop.requests[2]!.body).toEqual({ reservationId: "res-2" });
    expect(run.steps.find((s) => s.name === "shop.charge")).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "CARD_DECLINED", message: "card declined" },
    });
  });

  it("waits at least Retry-After before retrying a 429", async () => {
    const { baton, shop } = await open((req, res, i) => {
      if (i === 0)
        return reply(
          res,
          429,
          { error: { code: "SLOW_DOWN", message: "slow down" } },
          { "retry-after": "1" },
        );
      reply(res, 200, { ok: req.path });
    });
    await baton.start("order", { orderId: "o-3" }, { runId: "o-3" });
    expect((await baton.wait("o-3")).status).toBe("completed");
    const [first, second] = shop.requests;
    expect(second!.path).toBe("/reserve");
    // The policy alone would come back after 5 ms; the service asked for a second.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1_000);
  });

  it("retries an attempt that times out", async () => {
    const { baton, shop } = await open(
      (req, res, i) => {
        if (i === 0) return; // the first attempt hangs
        reply(res, 200, { ok: req.path });
      },
      { timeout: 200 },
    );
    await baton.start("order", { orderId: "o-4" }, { runId: "o-4" });
    expect((await baton.wait("o-4")).status).toBe("completed");
    expect(shop.requests.map((r) => r.headers["baton-attempt"])).toEqual(["1", "2", "1"]);
    const history = await baton.history("o-4");
    expect(JSON.stringify(history)).toContain("STEP_TIMEOUT");
  });

  it("retries a refused connection until the service comes up", async () => {
    const port = await freePort();
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [
        orderWorkflow({ maxAttempts: 20, initialIntervalMs: 50, maxIntervalMs: 100, jitter: 0 }),
      ],
      services: [service("shop", http(`http://127.0.0.1:${port}`))],
      logger: silentLogger,
    });
    const retries: BatonEvent[] = [];
    baton.on((e) => void (e.type === "step.retrying" && retries.push(e)));
    await baton.start("order", { orderId: "o-5" }, { runId: "o-5" });
    await waitFor(() => retries.length > 0, { what: "a refused attempt" });
    const run = await baton.get("o-5");
    expect(run.waitingOn).toMatchObject({ kind: "retry", lastError: { code: "UNAVAILABLE" } });
    const shop = await startService((req, res) => reply(res, 200, { ok: req.path }), port);
    services.push(shop);
    expect((await baton.wait("o-5")).status).toBe("completed");
  });

  it("reuses one keep-alive connection for a run's successive calls", async () => {
    const { baton, shop } = await open((req, res) => reply(res, 200, { ok: req.path }));
    for (const id of ["k-1", "k-2", "k-3"]) {
      await baton.start("order", { orderId: id }, { runId: id });
      await baton.result(id);
    }
    expect(shop.requests).toHaveLength(6);
    expect(shop.connections).toBe(1);
  });

  it("lists the service with its transport and base URL", async () => {
    const { baton, shop } = await open((_req, res) => reply(res, 200, {}));
    const [info] = await baton.engine.services();
    expect(info).toMatchObject({ name: "shop", transport: "http", baseUrl: shop.url });
  });
});
