/**
 * RabbitMQ, on a real broker (.ci/rabbitmq.sh) and real SQLite files. One file on purpose: a
 * test here restarts the broker's application (rabbitmqctl stop_app / start_app), which would
 * disturb any other broker test running beside it; tests of one file run one after another.
 *
 * - The order saga with payments behind RabbitMQ, served by a separate worker process written
 *   with plain amqplib (examples/order-demo/payments-amqp.ts), the broker restarted mid-load.
 * - The event bridge: a consumer bound to `run.#` / `order.#` receives the runs' events; a
 *   broker that is down stalls no run, and what the full buffer drops is counted in /metrics.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "amqplib";
import { afterEach, describe, expect, it } from "vitest";
import { Baton, local, service, workflow, type Run } from "../../src/index.js";
import { EXAMPLE_DIR, ProcessGroup, REPO, freePort } from "../demo/harness/processes.js";
import { findBroker, rabbitmqctl, uniqueQueue } from "../support/rabbitmq.js";
import { tempDbUrl } from "../support/temp-db.js";
import { deleteQueues, orderSaga, queueDepth, readEffects } from "./amqp-fixture.js";
import { waitFor } from "../support/wait-for.js";

const broker = await findBroker();
const SEED = process.env.TEST_SEED ?? String(Date.now() % 100_000);

const TERMINAL = new Set(["completed", "compensated", "failed", "cancelled"]);

describe.skipIf("skip" in broker)(
  `payments through RabbitMQ${"skip" in broker ? ` (skipped: ${broker.skip})` : ""}`,
  () => {
    const { url, node } = broker as { url: string; node: string };
    const processes = new ProcessGroup();
    const cleanups: Array<() => Promise<void> | void> = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      await processes.killAll();
    });

    async function setUp() {
      const db = tempDbUrl();
      const queue = uniqueQueue("payments");
      const replyQueue = uniqueQueue("baton.replies.test");
      const effectsFile = join(db.dir, "payments-effects.jsonl");
      const saga = orderSaga(url, queue, replyQueue);
      const open = () =>
        Baton.open({ db: db.url, workflows: saga.workflows, services: saga.services });
      let baton = await open();
      cleanups.push(
        () => db.cleanup(),
        () => deleteQueues(url, [queue, replyQueue]),
        () => baton.close(),
      );
      // `failRate`: the share of charges failing transiently (retried while the run goes forward).
      const startWorker = async (failRate = "0.05") => {
        const worker = processes.startTs("payments", join(EXAMPLE_DIR, "payments-amqp.ts"), [], {
          AMQP_URL: url,
          PAYMENTS_QUEUE: queue,
          EFFECTS_FILE: effectsFile,
          PAYMENTS_FAIL_RATE: failRate,
          LATENCY_MS: "2-20",
          RANDOM_SEED: SEED,
          LOG_LEVEL: "warn",
        });
        await worker.waitForOutput(/payments consuming RabbitMQ queue/);
        return worker;
      };
      return {
        saga,
        queue,
        replyQueue,
        effects: () => readEffects(effectsFile),
        baton: () => baton,
        reopen: async () => {
          baton = await open();
        },
        startWorker,
      };
    }

    it("one order completes and one compensates, the refund through RabbitMQ too", async () => {
      const t = await setUp();
      await t.startWorker();
      const ok = await t.baton().start("placeOrder", { orderId: "ok-1", amount: 30 });
      t.saga.shipFails.add("bad-1");
      const bad = await t.baton().start("placeOrder", { orderId: "bad-1", amount: 40 });
      expect((await t.baton().wait(ok.runId, 20_000)).status).toBe("completed");
      const compensated = await t.baton().wait(bad.runId, 20_000);
      expect(compensated.status, `seed ${SEED}`).toBe("compensated");
      const effects = t.effects().filter((e) => e.outcome.ok);
      expect(
        effects.filter((e) => e.command === "charge").map((e) => e.outcome.output?.orderId),
      ).toEqual(expect.arrayContaining(["ok-1", "bad-1"]));
      const refunds = effects.filter((e) => e.command === "refund");
      expect(refunds).toHaveLength(1);
      expect(refunds[0]!.outcome.output).toMatchObject({ orderId: "bad-1" });
      expect(refunds[0]!.outcome.output?.refunded).toMatch(/^pay-/);
    }, 40_000);

    it("refuses a worker polling Baton for a service reached through RabbitMQ", async () => {
      const t = await setUp();
      const serving = await t.baton().serve({ port: 0 });
      cleanups.push(() => serving.close());
      const response = await fetch(`${serving.url}/v1/services/payments/tasks/poll`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ workerId: "stray" }),
      });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({
        error: { code: "SERVICE_NOT_FOUND", message: expect.stringMatching(/through RabbitMQ/) },
      });
    });

    it("a reply that arrives while the orchestrator is down is recorded after its restart", async () => {
      const t = await setUp();
      const run = await t.baton().start("placeOrder", { orderId: "late-1", amount: 10 });
      // The charge is published (no worker yet): the run waits on the broker's service.
      const waiting = await waitFor(
        async () => {
          const r = await t.baton().get(run.runId);
          return /RabbitMQ queue.*broker connected/.test(r.waitingOn?.reason ?? "") && r;
        },
        { what: "the run waiting on RabbitMQ", timeoutMs: 10_000, intervalMs: 20 },
      );
      expect(waiting.waitingOn).toMatchObject({ kind: "task", service: "payments" });
      await waitFor(async () => (await queueDepth(url, t.queue)) === 1, {
        what: "the charge in the command queue",
        intervalMs: 20,
      });
      await t.baton().close();
      await t.startWorker();
      await waitFor(async () => (await queueDepth(url, t.replyQueue)) === 1, {
        what: "the reply in Baton's reply queue while Baton is down",
        intervalMs: 20,
      });
      await t.reopen();
      expect((await t.baton().wait(run.runId, 20_000)).status).toBe("completed");
      expect(t.effects().filter((e) => e.command === "charge")).toHaveLength(1);
      await waitFor(async () => (await queueDepth(url, t.replyQueue)) === 0, {
        what: "the reply acknowledged once recorded",
        intervalMs: 20,
      });
    }, 40_000);

    it("a run cancelled with its charge published and unanswered settles it, then refunds through RabbitMQ", async () => {
      const t = await setUp();
      const run = await t.baton().start("placeOrder", { orderId: "cancel-1", amount: 25 });
      await waitFor(async () => (await queueDepth(url, t.queue)) === 1, {
        what: "the charge published, no worker to take it",
        intervalMs: 20,
      });
      await t.baton().cancel(run.runId, "customer changed their mind");
      // The charge may still land: the rollback waits for it, saying so, and ends no sooner.
      const settling = await waitFor(
        async () => {
          const r = await t.baton().get(run.runId);
          return r.status === "compensating" && r.waitingOn?.kind === "task" && r;
        },
        { what: "the rollback waiting on the published charge", intervalMs: 20 },
      );
      expect(settling.waitingOn?.reason).toMatch(/RabbitMQ queue/);
      // No transient failure here: a rollback does not retry the charge it settles, so a failed
      // one would (rightly) leave nothing to refund, and this test is about the one that lands.
      await t.startWorker("0");
      const ended = await t.baton().wait(run.runId, 20_000);
      expect(ended.status).toBe("cancelled");
      const effects = t.effects().filter((e) => e.outcome.ok);
      expect(effects.filter((e) => e.command === "charge")).toHaveLength(1);
      const refunds = effects.filter((e) => e.command === "refund");
      expect(refunds).toHaveLength(1);
      expect(refunds[0]!.outcome.output).toMatchObject({ orderId: "cancel-1" });
      expect(refunds[0]!.outcome.output?.refunded).toMatch(/^pay-/);
    }, 40_000);

    it("malformed replies end the attempt with AMQP_REPLY_INVALID, never the process", async () => {
      const t = await setUp();
      const run = await t.baton().start("placeOrder", { orderId: "garbled-1", amount: 5 });
      // A hand-written service that answers badly: no correlation id first, then not JSON.
      const connection = await connect(url);
      cleanups.push(() => connection.close().catch(() => undefined));
      const channel = await connection.createChannel();
      await channel.assertQueue(t.queue, { durable: true });
      const command = await waitFor(async () => (await channel.get(t.queue)) || undefined, {
        what: "the charge on the command queue",
        intervalMs: 20,
      });
      const { replyTo, correlationId } = command.properties as {
        replyTo: string;
        correlationId: string;
      };
      expect(correlationId).toMatch(new RegExp(`^${run.runId}:\\d+$`));
      channel.sendToQueue(replyTo, Buffer.from('{"output": 1}'));
      channel.sendToQueue(replyTo, Buffer.from("{not json"), { correlationId });
      channel.ack(command);
      const ended = await t.baton().wait(run.runId, 20_000);
      expect(ended.status).toBe("compensated");
      const charge = ended.steps?.find((s) => s.name === "payments.charge");
      expect(charge?.error).toMatchObject({
        code: "AMQP_REPLY_INVALID",
        message: expect.stringMatching(/invalid reply: the reply is not JSON/),
      });
      await waitFor(async () => (await queueDepth(url, t.replyQueue)) === 0, {
        what: "both replies acknowledged",
        intervalMs: 20,
      });
    }, 40_000);

    it("200 orders across a broker restart: all end, each charged once in effect", async () => {
      const t = await setUp();
      await t.startWorker();
      const ids = Array.from({ length: 200 }, (_, i) => `order-${i}`);
      const started = Date.now();
      const startOrders = (orderIds: string[]) =>
        Promise.all(
          orderIds.map((orderId) =>
            t.baton().start("placeOrder", { orderId, amount: 10 }, { runId: orderId }),
          ),
        );
      // Half before the outage (some in flight when it comes), half while the broker is down.
      await startOrders(ids.slice(0, 100));
      const charges = () => t.effects().filter((e) => e.command === "charge" && e.outcome.ok);
      await waitFor(() => charges().length >= 30, {
        what: "some charges before the restart",
        timeoutMs: 20_000,
        intervalMs: 20,
      });
      let restarted = false;
      cleanups.push(async () => {
        if (!restarted) await rabbitmqctl(node, "start_app");
      });
      await rabbitmqctl(node, "stop_app");
      try {
        await startOrders(ids.slice(100));
        // Runs waiting on payments now say the broker is unreachable.
        await waitFor(
          async () => {
            const { runs } = await t.baton().list({ status: "waiting", limit: 50 });
            for (const summary of runs) {
              const run = await t.baton().get(summary.runId);
              if (/unreachable/.test(run.waitingOn?.reason ?? "")) return run;
            }
            return undefined;
          },
          { what: "a run saying the broker is unreachable", timeoutMs: 15_000, intervalMs: 50 },
        );
      } finally {
        await rabbitmqctl(node, "start_app");
        restarted = true;
      }
      const runs = await waitFor(
        async () => {
          const all: Run[] = await Promise.all(ids.map((id) => t.baton().get(id)));
          return all.every((r) => TERMINAL.has(r.status)) && all;
        },
        { what: "all 200 runs terminal", timeoutMs: 45_000, intervalMs: 100 },
      );
      const elapsed = Date.now() - started;
      const byStatus = runs.reduce<Record<string, number>>(
        (acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }),
        {},
      );
      expect(byStatus, `seed ${SEED}`).toEqual({ completed: 200 });
      const perOrder = new Map<string, number>();
      for (const e of charges()) {
        const order = e.outcome.output?.orderId ?? "?";
        perOrder.set(order, (perOrder.get(order) ?? 0) + 1);
      }
      expect(perOrder.size).toBe(200);
      expect([...perOrder.values()].every((n) => n === 1)).toBe(true);
      console.info(`200 orders across a broker restart in ${elapsed} ms (seed ${SEED})`);
    }, 90_000);
  },
);

describe.skipIf("skip" in broker)(
  `baton demo --amqp${"skip" in broker ? ` (skipped: ${broker.skip})` : ""}`,
  () => {
    const { url } = broker as { url: string };
    const processes = new ProcessGroup();
    const dirs: string[] = [];
    afterEach(async () => {
      await processes.killAll();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    it("runs the order demo with payments through RabbitMQ and a plain amqplib worker", async () => {
      const dir = mkdtempSync(join(tmpdir(), "baton-demo-amqp-"));
      dirs.push(dir);
      const port = await freePort();
      const queue = uniqueQueue("payments.demo");
      const demo = processes.startBaton(
        "demo",
        [
          "demo",
          "--amqp",
          url,
          "--port",
          String(port),
          "--data-dir",
          dir,
          "--orders-per-second",
          "10",
        ],
        { PAYMENTS_QUEUE: queue, PAYMENTS_FAIL_RATE: "0", SHIPPING_FAIL_RATE: "0.3" },
      );
      await demo.waitForOutput(/Ctrl-C stops/, 45_000);
      expect(demo.output).toMatch(/payments\s+RabbitMQ queue payments, worker pid \d+/);
      const api = `http://127.0.0.1:${port}/v1`;
      const count = async (status: string) =>
        ((await (await fetch(`${api}/runs?status=${status}&limit=100`)).json()) as { runs: Run[] })
          .runs.length;
      await waitFor(
        async () => (await count("completed")) >= 3 && (await count("compensated")) >= 1,
        {
          what: "completed and compensated orders",
          timeoutMs: 30_000,
          intervalMs: 200,
        },
      );
      const effects = readEffects(join(dir, "payments-effects.jsonl"));
      expect(effects.some((e) => e.command === "charge" && e.outcome.ok)).toBe(true);
      demo.kill("SIGINT");
      expect(await demo.exited).toEqual({ code: 0, signal: null });
      await deleteQueues(url, [queue]);
    }, 90_000);
  },
);

describe.skipIf("skip" in broker)(
  `the event bridge to RabbitMQ${"skip" in broker ? ` (skipped: ${broker.skip})` : ""}`,
  () => {
    const { url } = broker as { url: string };
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    const greet = workflow("greet", async (ctx, name: string) => {
      const { text } = await ctx.call<{ text: string }>(greeter, "hello", name);
      return text;
    });
    const greeter = service(
      "greeter",
      local({ hello: (name: string) => ({ text: `hello ${name}` }) }),
    );

    it("a consumer bound to run.# and order.# receives every run event, routing key = type", async () => {
      const db = tempDbUrl();
      const exchange = uniqueQueue("baton.events.test");
      cleanups.push(() => db.cleanup());
      // The consumer's queue is bound before Baton publishes anything.
      const connection = await connect(url);
      cleanups.push(() => connection.close().catch(() => undefined));
      const channel = await connection.createChannel();
      await channel.assertExchange(exchange, "topic", { durable: true });
      cleanups.push(async () => {
        const c = await connect(url);
        await (await c.createChannel()).deleteExchange(exchange);
        await c.close();
      });
      const { queue } = await channel.assertQueue("", { exclusive: true });
      await channel.bindQueue(queue, exchange, "run.#");
      await channel.bindQueue(queue, exchange, "order.#");
      const received: Array<{
        key: string;
        body: { type: string; runId: string };
        persistent: boolean;
      }> = [];
      await channel.consume(
        queue,
        (message) => {
          if (!message) return;
          received.push({
            key: message.fields.routingKey,
            body: JSON.parse(message.content.toString()) as { type: string; runId: string },
            persistent: message.properties.deliveryMode === 2,
          });
        },
        { noAck: true },
      );

      const baton = await Baton.open({
        db: db.url,
        workflows: [greet],
        services: [greeter],
        events: { amqp: { url, exchange } },
      });
      cleanups.push(() => baton.close());
      const run = await baton.start(greet, "ada");
      expect(await baton.result(run.runId)).toBe("hello ada");
      const mine = await waitFor(
        () => {
          const events = received.filter((r) => r.body.runId === run.runId);
          return events.some((e) => e.key === "run.completed") && events;
        },
        { what: "run.completed on the exchange", intervalMs: 20 },
      );
      expect(mine.map((e) => e.key)).toEqual(
        expect.arrayContaining(["run.started", "run.completed"]),
      );
      expect(mine.every((e) => e.key === e.body.type && e.persistent)).toBe(true);
      // step.* events are published too, but this consumer bound only run.# and order.#.
      expect(mine.some((e) => e.key.startsWith("step."))).toBe(false);

      // User events go through the same live publication: routing key = their topic.
      await baton.publish("order.placed", { orderId: "o-1" }, { id: "o-1" });
      const placed = await waitFor(() => received.find((r) => r.key === "order.placed"), {
        what: "order.placed on the exchange",
        intervalMs: 20,
      });
      expect(placed.body).toMatchObject({ type: "order.placed", eventId: "o-1", user: true });
    });

    it("baton server --events-amqp URL --events-exchange NAME publishes the server's run events", async () => {
      const dir = mkdtempSync(join(tmpdir(), "baton-events-cli-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const exchange = uniqueQueue("baton.events.cli");
      const connection = await connect(url);
      cleanups.push(() => connection.close().catch(() => undefined));
      const channel = await connection.createChannel();
      await channel.assertExchange(exchange, "topic", { durable: true });
      cleanups.push(async () => {
        const c = await connect(url);
        await (await c.createChannel()).deleteExchange(exchange);
        await c.close();
      });
      const { queue } = await channel.assertQueue("", { exclusive: true });
      await channel.bindQueue(queue, exchange, "run.#");
      const keys: Array<{ key: string; runId: string }> = [];
      await channel.consume(
        queue,
        (m) => {
          if (m)
            keys.push({
              key: m.fields.routingKey,
              runId: (JSON.parse(m.content.toString()) as { runId: string }).runId,
            });
        },
        { noAck: true },
      );
      const processes = new ProcessGroup();
      cleanups.push(() => processes.killAll());
      const server = processes.startBaton("server", [
        "server",
        "--workflows",
        join(REPO, "test", "cli", "fixtures", "cli-workflows.ts"),
        "--db",
        `sqlite:${join(dir, "baton.db")}`,
        "--port",
        "0",
        "--events-amqp",
        url,
        "--events-exchange",
        exchange,
      ]);
      const [, base = ""] = await server.waitForOutput(/listening on (http:\/\/[\d.]+:\d+)/);
      const response = await fetch(`${base}/v1/workflows/greet/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: { name: "Ada" }, runId: "cli-greet-1" }),
      });
      expect(response.status).toBeLessThan(300);
      await waitFor(
        () => keys.some((k) => k.runId === "cli-greet-1" && k.key === "run.completed"),
        { what: "run.completed of cli-greet-1 on the exchange", intervalMs: 20 },
      );
      expect(keys.filter((k) => k.runId === "cli-greet-1").map((k) => k.key)).toContain(
        "run.started",
      );
    }, 60_000);

    it("a broker that is down stalls no run; what the full buffer cannot hold is counted", async () => {
      const db = tempDbUrl();
      cleanups.push(() => db.cleanup());
      // Nothing listens on this port: the bridge keeps reconnecting while the runs go on.
      const down = `amqp://guest:guest@127.0.0.1:${await freePort()}`;
      const baton = await Baton.open({
        db: db.url,
        workflows: [greet],
        services: [greeter],
        events: { amqp: { url: down, maxBuffered: 5 } },
      });
      cleanups.push(() => baton.close());
      const runs = await Promise.all(["a", "b", "c", "d"].map((n) => baton.start(greet, n)));
      for (const run of runs)
        expect((await baton.wait(run.runId, 10_000)).status).toBe("completed");
      const serving = await baton.serve({ port: 0 });
      cleanups.push(() => serving.close());
      const metrics = await (await fetch(`${serving.url}/metrics`)).text();
      expect(metrics).toMatch(/^baton_event_bridge_buffered 5$/m);
      expect(metrics).toMatch(/^baton_event_bridge_connected 0$/m);
      const dropped = Number(/^baton_event_bridge_dropped_total (\d+)$/m.exec(metrics)?.[1]);
      expect(dropped).toBeGreaterThan(0);
    });
  },
);
