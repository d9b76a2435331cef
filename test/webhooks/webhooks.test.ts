import { afterEach, describe, expect, it } from "vitest";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { BatonClient, BatonClientError } from "../../src/client/index.js";
import type { Baton } from "../../src/index.js";
import { silentLogger, workflow } from "../../src/index.js";
import { batonFixture } from "../support/open-baton.js";
import { describePostgres, freshDatabase } from "../support/postgres.js";
import { waitFor } from "../support/wait-for.js";
import { WebhookReceiver, headersOf, seededRandom } from "./receiver.js";

const SEED = Number(process.env.BATON_TEST_SEED ?? Date.now() % 2 ** 31);

const ship = workflow("ship", async (ctx, input: { order: string }) =>
  ctx.step("pack", () => ({ packed: input.order })),
);

/** Retries come fast here; the jitter is seeded (the seed is in the suite's name). */
function webhookOptions(fields: Record<string, unknown> = {}) {
  return {
    pollMs: 100,
    retry: { initialIntervalMs: 30, maxIntervalMs: 200, jitter: 0.5 },
    random: seededRandom(SEED),
    ...fields,
  };
}

interface Setup {
  baton: Baton;
  apiUrl: string;
  client: BatonClient;
  receiver: (plan?: ConstructorParameters<typeof WebhookReceiver>[0]) => Promise<{
    receiver: WebhookReceiver;
    url: string;
  }>;
}

function webhookCases(
  storeName: string,
  openDb: () => Promise<{ db: string; drop: () => Promise<void> }>,
) {
  describe(`webhooks on ${storeName} (seed ${SEED})`, () => {
    const batons = batonFixture();
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      await batons.cleanup();
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(fields: Record<string, unknown> = {}): Promise<Setup> {
      const { db, drop } = await openDb();
      cleanups.push(drop);
      const baton = await batons.open({
        db,
        workflows: [ship],
        logger: silentLogger,
        webhooks: webhookOptions(fields),
      });
      const { url } = await baton.serve({ port: 0 });
      return {
        baton,
        apiUrl: url,
        client: new BatonClient({ url }),
        receiver: async (plan) => {
          const receiver = new WebhookReceiver(plan);
          cleanups.push(() => receiver.close());
          return { receiver, url: await receiver.listen() };
        },
      };
    }

    it("delivers an event once in effect after three 500s: four signed attempts with one webhook-id", async () => {
      const { apiUrl, client, receiver: open } = await setup();
      const { receiver, url } = await open((n) => (n <= 3 ? 500 : 200));
      const subscription = await client.createSubscription({ topics: ["order.*"], url });
      expect(subscription).toEqual({
        id: expect.stringMatching(/^sub_[0-9a-f]{24}$/),
        topics: ["order.*"],
        url,
        createdAt: expect.any(String),
        secret: expect.stringMatching(/^whsec_/),
      });
      receiver.secret = subscription.secret;

      // A user event, published through the API with an id of its own: that id is the webhook-id.
      await client.publish("order.placed", { orderId: "o-1" }, { id: "order-o-1" });
      await waitFor(() => receiver.effects.size === 1, { what: "the delivery", timeoutMs: 15_000 });

      expect(receiver.requests.map((r) => r.status)).toEqual([500, 500, 500, 200]);
      const ids = new Set(receiver.requests.map((r) => r.id));
      expect(ids.size).toBe(1);
      const [eventId] = ids;
      expect(eventId).toBe("order-o-1");
      const effect = receiver.effects.get(eventId!);
      expect(effect).toMatchObject({
        id: eventId,
        type: "order.placed",
        data: { orderId: "o-1" },
      });
      // Every attempt verifies with the subscription's secret, and with no other.
      const other = new Webhook(`whsec_${Buffer.alloc(32, 7).toString("base64")}`);
      for (const request of receiver.requests) {
        expect(() =>
          new Webhook(subscription.secret).verify(request.body, headersOf(request.headers)),
        ).not.toThrow();
        expect(() => other.verify(request.body, headersOf(request.headers))).toThrow(
          WebhookVerificationError,
        );
        expect(request.headers["content-type"]).toBe("application/json");
      }

      const deliveries = await waitFor(
        async () => {
          const listed = await client.subscriptionDeliveries(subscription.id);
          return listed.length === 4 && listed[0]!.statusCode === 200 && listed;
        },
        { what: "four attempts listed" },
      );
      expect(deliveries.map((d) => [d.eventId, d.attempt, d.statusCode, d.error])).toEqual([
        [eventId, 4, 200, null],
        [eventId, 3, 500, "HTTP 500"],
        [eventId, 2, 500, "HTTP 500"],
        [eventId, 1, 500, "HTTP 500"],
      ]);
      expect(deliveries[0]!.nextAttemptAt).toBeNull();
      for (const failed of deliveries.slice(1)) {
        expect(Date.parse(failed.nextAttemptAt!)).toBeGreaterThan(Date.parse(failed.at));
      }
      const metrics = await (await fetch(`${apiUrl}/metrics`)).text();
      expect(metrics).toContain('baton_webhook_deliveries_total{outcome="failed"} 3');
      expect(metrics).toContain('baton_webhook_deliveries_total{outcome="delivered"} 1');
      expect(metrics).toMatch(/^baton_webhook_queue_depth 0$/m);
      expect(metrics).toMatch(/^baton_webhook_lag_seconds 0$/m);

      // Nothing more arrives once delivered: another event's delivery comes, this one's does not.
      await client.publish("order.placed", { orderId: "o-2" }, { id: "order-o-2" });
      await waitFor(() => receiver.effects.size === 2, { what: "the second event" });
      expect(receiver.requests.filter((r) => r.id === eventId)).toHaveLength(4);
    });

    it("sends only the events committed after the subscription, and only those its topics match", async () => {
      const { baton, client, receiver: open } = await setup();
      await baton.start(ship, { order: "before" }, { runId: "before" });
      await baton.wait("before");
      const all = await open();
      const failures = await open();
      const everything = await client.createSubscription({ topics: ["run.*"], url: all.url });
      const onlyFailures = await client.createSubscription({
        topics: ["run.failed"],
        url: failures.url,
      });
      all.receiver.secret = everything.secret;
      failures.receiver.secret = onlyFailures.secret;

      await baton.start(ship, { order: "after" }, { runId: "after" });
      await waitFor(() => all.receiver.effects.size === 1, { what: "the event after" });
      const [delivered] = [...all.receiver.effects.values()] as Array<{
        id: string;
        data: { runId: string };
      }>;
      expect(delivered!.data.runId).toBe("after");
      // Baton's own events go by the id the event stream gives them.
      expect(delivered!.id).toMatch(/^~\d+$/);
      // One fan-out made every subscription's deliveries: run.failed got none from it.
      expect(await client.subscriptionDeliveries(onlyFailures.id)).toEqual([]);
      expect(failures.receiver.requests).toEqual([]);
    });

    it("a receiver that never answers holds back only its own deliveries", async () => {
      const {
        baton,
        client,
        receiver: open,
      } = await setup({ requestTimeoutMs: 20_000, perSubscription: 2, maxInFlight: 4 });
      const dead = await open(() => "hang");
      const alive = await open();
      const stuck = await client.createSubscription({ topics: ["run.completed"], url: dead.url });
      const fine = await client.createSubscription({ topics: ["run.completed"], url: alive.url });
      dead.receiver.secret = stuck.secret;
      alive.receiver.secret = fine.secret;

      for (let i = 0; i < 6; i++) await baton.start(ship, { order: `o-${i}` }, { runId: `o-${i}` });
      await waitFor(() => alive.receiver.effects.size === 6, {
        what: "all six at the live receiver",
        timeoutMs: 10_000,
      });
      // The dead one holds its two attempts and gets no more meanwhile.
      expect(dead.receiver.requests.length).toBe(2);
    });

    it("refuses bad input with a precise code and creates nothing", async () => {
      const { client } = await setup();
      const refused = async (body: unknown): Promise<string> => {
        try {
          await client.createSubscription(body as never);
        } catch (e) {
          expect(e).toBeInstanceOf(BatonClientError);
          expect((e as BatonClientError).httpStatus).toBe(400);
          return (e as BatonClientError).code;
        }
        throw new Error(`accepted ${JSON.stringify(body)}`);
      };
      const url = "https://hooks.example.com/in";
      expect(await refused({ topics: ["run.*"], url: "ftp://hooks.example.com/in" })).toBe(
        "INVALID_URL",
      );
      expect(await refused({ topics: ["run.*"], url: "not a url" })).toBe("INVALID_URL");
      expect(await refused({ topics: ["run.*"], url: "/relative" })).toBe("INVALID_URL");
      expect(await refused({ topics: ["run.*"], url: "https://user:pw@hooks.example.com/" })).toBe(
        "INVALID_URL",
      );
      expect(await refused({ topics: [], url })).toBe("INVALID_TOPIC");
      expect(await refused({ topics: ["Order Placed"], url })).toBe("INVALID_TOPIC");
      expect(await refused({ topics: ["order..placed"], url })).toBe("INVALID_TOPIC");
      expect(await refused({ topics: ["run.*"], url, secret: "hunter2" })).toBe("INVALID_SECRET");
      expect(await refused({ topics: ["run.*"] })).toBe("INVALID_ARGUMENT");
      expect(await client.listSubscriptions()).toEqual([]);

      for (const call of [
        () => client.getSubscription("sub_nope"),
        () => client.deleteSubscription("sub_nope"),
        () => client.subscriptionDeliveries("sub_nope"),
      ]) {
        await expect(call()).rejects.toMatchObject({
          code: "SUBSCRIPTION_NOT_FOUND",
          httpStatus: 404,
        });
      }
    });

    it("lists, gets and deletes subscriptions; a given secret is used as is", async () => {
      const { client } = await setup();
      const secret = `whsec_${Buffer.alloc(24, 1).toString("base64")}`;
      const created = await client.createSubscription({
        topics: ["order.*", "run.failed"],
        url: "http://127.0.0.1:9/in",
        secret,
      });
      expect(created.secret).toBe(secret);
      const { secret: _shownOnce, ...shown } = created;
      expect(await client.listSubscriptions()).toEqual([shown]);
      expect(await client.getSubscription(created.id)).toEqual(shown);
      await client.deleteSubscription(created.id);
      expect(await client.listSubscriptions()).toEqual([]);
    });
  });
}

webhookCases("SQLite", () => {
  const batons = batonFixture();
  return Promise.resolve({ db: batons.db(), drop: () => batons.cleanup() });
});

describePostgres("PostgreSQL", () => {
  webhookCases("PostgreSQL", async () => {
    const database = await freshDatabase();
    return { db: database.url, drop: database.drop };
  });

  describe(`webhooks on two nodes sharing PostgreSQL (seed ${SEED})`, () => {
    const batons = batonFixture();
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      await batons.cleanup();
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it("each event is fanned out once and each attempt made by one node", async () => {
      const database = await freshDatabase();
      cleanups.push(database.drop);
      const receiver = new WebhookReceiver();
      cleanups.push(() => receiver.close());
      const url = await receiver.listen();
      const nodes = await Promise.all(
        ["node-a", "node-b"].map((nodeId) =>
          batons.open({ db: database.url, nodeId, workflows: [ship], webhooks: webhookOptions() }),
        ),
      );
      const subscription = await nodes[0]!.webhooks.create({ topics: ["run.completed"], url });
      receiver.secret = subscription.secret;

      const runs = Array.from({ length: 20 }, (_, i) => `o-${i}`);
      await Promise.all(
        runs.map((runId, i) => nodes[i % 2]!.start(ship, { order: runId }, { runId })),
      );
      await waitFor(() => receiver.effects.size === runs.length, {
        what: `${runs.length} deliveries (got ${receiver.effects.size})`,
        timeoutMs: 20_000,
      });
      const delivered = [...receiver.effects.values()] as Array<{ data: { runId: string } }>;
      expect(delivered.map((e) => e.data.runId).sort()).toEqual([...runs].sort());
      // No crash, no lapsed lease: one request per event, whichever node sent it.
      expect(receiver.requests).toHaveLength(runs.length);
    });
  });
});
