import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/common/index.js";
import {
  Baton,
  StepFailedError,
  queue,
  service,
  workflow,
  type BatonOptions,
} from "../../src/index.js";
import {
  worker,
  type TaskContext,
  type Worker,
  type WorkerOptions,
} from "../../src/worker/index.js";
import { batonFixture } from "../support/open-baton.js";
import { waitFor } from "../support/wait-for.js";

const warehouse = service("warehouse", queue());
const slowLane = service("slowLane", queue({ leaseMs: 600 }));

/** pick (compensated by restock) → pack, both on the warehouse's queue. */
const fulfil = workflow(
  "fulfil",
  async (ctx, input: { orderId: string; items: number }) => {
    const picked = await ctx.call<{ pickId: string }>(warehouse, "pick", input, {
      compensate: (p) => ctx.call(warehouse, "restock", p),
    });
    const parcel = await ctx.call(warehouse, "pack", { ...input, ...picked });
    return { picked, parcel };
  },
  { retry: { maxAttempts: 3, initialIntervalMs: 10, maxIntervalMs: 20 } },
);

const haul = workflow(
  "haul",
  async (ctx, input: { load: string }) => ctx.call(slowLane, "haul", input),
  {
    retry: { maxAttempts: 3, initialIntervalMs: 10, maxIntervalMs: 20 },
  },
);

const WORKFLOWS = [fulfil, haul];
const SERVICES = [warehouse, slowLane];

/** A promise with its resolve, for holding a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("worker against a real server", () => {
  const fixture = batonFixture();
  const workers: Worker[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop({ abortAfterMs: 100 });
    await fixture.cleanup();
  });

  async function serve(options: Partial<BatonOptions> = {}) {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: WORKFLOWS,
      services: SERVICES,
      logger: silentLogger,
      ...options,
    });
    const { url } = await baton.serve({ port: 0, logger: false });
    return { baton, url };
  }

  async function startWorker(options: WorkerOptions): Promise<Worker> {
    const w = worker({ pollWaitSeconds: 2, ...options });
    workers.push(w);
    await w.start();
    return w;
  }

  const warehouseHandlers = {
    pick: async (input: { orderId: string; items: number }, ctx: TaskContext) => {
      if (input.items > 10) throw new StepFailedError("not enough stock", { code: "OUT_OF_STOCK" });
      return { pickId: `pick-${ctx.idempotencyKey}` };
    },
    pack: async (input: { orderId: string }) => {
      if (input.orderId.startsWith("fragile")) {
        throw new StepFailedError("cannot pack fragile goods", { code: "FRAGILE" });
      }
      return { parcelId: `parcel-${input.orderId}` };
    },
    restock: async (input: { pickId: string }) => ({ restocked: input.pickId }),
  };

  it("takes the run's commands from the queue and completes the run", async () => {
    const { baton, url } = await serve();
    const contexts: TaskContext[] = [];
    await startWorker({
      url,
      service: "warehouse",
      handlers: {
        ...warehouseHandlers,
        pick: async (input: { orderId: string; items: number }, ctx: TaskContext) => {
          contexts.push(ctx);
          return warehouseHandlers.pick(input, ctx);
        },
      },
    });
    await baton.start(fulfil, { orderId: "o-1", items: 2 }, { runId: "o-1" });
    expect(await baton.result("o-1")).toEqual({
      picked: { pickId: "pick-o-1:1" },
      parcel: { parcelId: "parcel-o-1" },
    });
    expect(contexts[0]).toMatchObject({
      runId: "o-1",
      workflow: "fulfil",
      service: "warehouse",
      command: "pick",
      idempotencyKey: "o-1:1",
      attempt: 1,
      taskId: expect.any(String),
    });
    expect(contexts[0]!.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect((await baton.engine.services()).find((s) => s.name === "warehouse")?.workers).toBe(1);
  });

  it("a StepFailedError fails the call for good and the run compensates", async () => {
    const { baton, url } = await serve();
    const restocked: unknown[] = [];
    await startWorker({
      url,
      service: "warehouse",
      handlers: {
        ...warehouseHandlers,
        restock: async (input: { pickId: string }) => {
          restocked.push(input);
          return { restocked: input.pickId };
        },
      },
    });
    await baton.start(fulfil, { orderId: "fragile-1", items: 1 }, { runId: "fragile-1" });
    const run = await baton.wait("fragile-1");
    expect(run.status).toBe("compensated");
    expect(run.error?.code).toBe("FRAGILE");
    expect(run.steps.find((s) => s.name === "warehouse.pack")).toMatchObject({
      status: "failed",
      attempts: 1,
    });
    expect(restocked).toEqual([{ pickId: "pick-fragile-1:1" }]);
  });

  it("retries a handler's ordinary error and fails an unknown command for good", async () => {
    const { baton, url } = await serve();
    const attempts: number[] = [];
    await startWorker({
      url,
      service: "warehouse",
      handlers: {
        pick: async (_input: unknown, ctx: TaskContext) => {
          attempts.push(ctx.attempt);
          if (ctx.attempt === 1) throw new Error("scanner offline");
          return { pickId: "p-1" };
        },
        restock: warehouseHandlers.restock,
        // no "pack": the run must hear so at once rather than wait for a worker forever
      },
    });
    await baton.start(fulfil, { orderId: "o-3", items: 1 }, { runId: "o-3" });
    const run = await baton.wait("o-3");
    expect(attempts).toEqual([1, 2]);
    expect(run.status).toBe("compensated");
    expect(run.error?.code).toBe("COMMAND_NOT_FOUND");
    expect(run.error?.message).toContain(
      "has no handler for command pack (it handles: pick, restock)",
    );
    expect(run.steps.find((s) => s.name === "warehouse.pack")).toMatchObject({ attempts: 1 });
    expect(run.steps.find((s) => s.name === "warehouse.restock")).toMatchObject({
      status: "completed",
      output: { restocked: "p-1" },
    });
  });

  it("runs at most `concurrency` handlers at once", async () => {
    const { baton, url } = await serve();
    let running = 0;
    let most = 0;
    await startWorker({
      url,
      service: "warehouse",
      concurrency: 3,
      handlers: {
        ...warehouseHandlers,
        pick: async (_input: unknown, ctx: TaskContext) => {
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 40));
          running--;
          return { pickId: ctx.idempotencyKey };
        },
      },
    });
    const ids = Array.from({ length: 12 }, (_, i) => `c-${i}`);
    await Promise.all(
      ids.map((id) => baton.start(fulfil, { orderId: id, items: 1 }, { runId: id })),
    );
    for (const id of ids) expect((await baton.wait(id)).status).toBe("completed");
    expect(most).toBe(3);
  });

  it("stops gracefully: the task in hand finishes and is reported, no new task is taken", async () => {
    const { baton, url } = await serve();
    const held = gate();
    const started = gate();
    const w = await startWorker({
      url,
      service: "warehouse",
      handlers: {
        ...warehouseHandlers,
        pick: async (_input: unknown, ctx: TaskContext) => {
          started.open();
          await held.promise;
          return { pickId: ctx.idempotencyKey };
        },
      },
    });
    await baton.start(fulfil, { orderId: "s-1", items: 1 }, { runId: "s-1" });
    await started.promise;
    let stopped = false;
    const stopping = w.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    expect(w.inFlight).toBe(1);
    held.open();
    await stopping;
    expect(w.isRunning).toBe(false);
    // pick's completion landed; pack waits in the queue for a worker that is no longer there.
    const run = await waitFor(async () => {
      const r = await baton.get("s-1");
      return r.waitingOn?.kind === "task" && r.steps.length === 2 && r;
    });
    expect(run.steps[0]).toMatchObject({
      name: "warehouse.pick",
      status: "completed",
      output: { pickId: "s-1:1" },
    });
    expect(run.steps[1]).toMatchObject({ name: "warehouse.pack", attempts: 0 });
    expect(run.waitingOn).toMatchObject({ kind: "task", service: "warehouse" });
    expect((await baton.engine.services()).find((s) => s.name === "warehouse")?.queueDepth).toBe(1);
  });

  it("keeps a completion while the orchestrator is down and delivers it when it is back", async () => {
    const db = fixture.db();
    const options = { db, workflows: WORKFLOWS, services: SERVICES, logger: silentLogger };
    const first = await Baton.open(options);
    const { url } = await first.serve({ port: 0, logger: false });
    const port = Number(new URL(url).port);
    const held = gate();
    const started = gate();
    let picks = 0;
    await startWorker({
      url,
      service: "warehouse",
      handlers: {
        ...warehouseHandlers,
        pick: async (_input: unknown, ctx: TaskContext) => {
          picks++;
          started.open();
          await held.promise;
          return { pickId: ctx.idempotencyKey };
        },
      },
    });
    await first.start(fulfil, { orderId: "d-1", items: 1 }, { runId: "d-1" });
    await started.promise;
    await first.close(); // the orchestrator goes away while the task is leased
    held.open(); // the handler finishes with nowhere to report to
    await new Promise((resolve) => setTimeout(resolve, 500)); // a few refused reports
    const second = await fixture.open(options);
    await second.serve({ port, logger: false });
    expect(await second.result("d-1")).toEqual({
      picked: { pickId: "d-1:1" },
      parcel: { parcelId: "parcel-d-1" },
    });
    expect(picks).toBe(1);
  });

  it("renews the lease of a long task, so it is not delivered twice", async () => {
    const { baton, url } = await serve();
    const deliveries: number[] = [];
    await startWorker({
      url,
      service: "slowLane",
      handlers: {
        haul: async (input: { load: string }, ctx: TaskContext) => {
          deliveries.push(ctx.attempt);
          await new Promise((resolve) => setTimeout(resolve, 1_500)); // 2.5 leases
          await ctx.heartbeat({ progress: 1 });
          return { hauled: input.load };
        },
      },
    });
    await baton.start(haul, { load: "gravel" }, { runId: "h-1" });
    expect(await baton.result("h-1")).toEqual({ hauled: "gravel" });
    expect(deliveries).toEqual([1]);
  });

  it("aborts a handler whose lease was lost; the redelivery's result is the one recorded", async () => {
    const { baton, url } = await serve();
    const abortReasons: unknown[] = [];
    await startWorker({
      url,
      service: "slowLane",
      leaseRenewal: { intervalMs: 1_000 }, // slower than the 600 ms lease: it will be lost
      handlers: {
        haul: async (_input: unknown, ctx: TaskContext) => {
          if (ctx.attempt > 1) return { hauledBy: ctx.attempt };
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          abortReasons.push(ctx.signal.reason);
          return { hauledBy: "the stale delivery" };
        },
      },
    });
    await baton.start(haul, { load: "sand" }, { runId: "h-2" });
    expect(await baton.result("h-2")).toEqual({ hauledBy: 2 });
    await waitFor(() => abortReasons.length > 0, { what: "the stale handler to be aborted" });
    expect(abortReasons[0]).toMatchObject({ code: "LEASE_LOST" });
  });

  it("stop({ abortAfterMs }) aborts handlers that do not finish in time", async () => {
    const { baton, url } = await serve();
    const started = gate();
    const w = await startWorker({
      url,
      service: "warehouse",
      handlers: {
        ...warehouseHandlers,
        pick: async (_input: unknown, ctx: TaskContext) => {
          started.open();
          // Like any I/O that takes a signal: it rejects with the signal's reason once aborted.
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          ctx.signal.throwIfAborted();
        },
      },
    });
    await baton.start(fulfil, { orderId: "x-1", items: 1 }, { runId: "x-1" });
    await started.promise;
    const before = Date.now();
    await w.stop({ abortAfterMs: 150 });
    expect(Date.now() - before).toBeGreaterThanOrEqual(140);
    // The aborted attempt was reported as a retryable failure: the command is queued again
    // for another worker, and the run waits for it.
    await waitFor(async () => {
      const info = (await baton.engine.services()).find((s) => s.name === "warehouse");
      return info?.queueDepth === 1;
    });
    const run = await baton.get("x-1");
    expect(run.status).toBe("waiting");
    expect(run.steps[0]).toMatchObject({ name: "warehouse.pick", attempts: 1 });
  });
});
