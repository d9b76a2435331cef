import { afterEach, expect, it } from "vitest";
import { Baton, workflow, type Logger } from "../../src/index.js";
import { TcpProxy } from "../server/tcp-proxy.js";
import { describePostgres, freshDatabase } from "../support/postgres.js";
import { waitFor } from "../support/wait-for.js";
import { WebhookReceiver } from "./receiver.js";

const ship = workflow("ship", async (ctx, input: { order: string }) =>
  ctx.step("pack", () => ({ packed: input.order })),
);

/** Keeps the warnings, so the test can wait until the dispatcher has met the outage. */
function recordingLogger(warnings: string[]): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (_obj, msg) => void warnings.push(msg ?? ""),
    error: (_obj, msg) => void warnings.push(msg ?? ""),
    child: () => logger,
  };
  return logger;
}

describePostgres("webhook deliveries while the database is unreachable", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("a delivery waiting for its retry survives an outage of the store and is made once it is back", async () => {
    const database = await freshDatabase();
    cleanups.push(() => database.drop());
    const target = new URL(database.url);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
    cleanups.push(() => proxy.close());
    const proxied = new URL(database.url);
    proxied.host = `127.0.0.1:${proxy.port}`;
    proxied.searchParams.set("connect_timeout", "1");
    proxied.searchParams.set("query_timeout", "1500");

    const receiver = new WebhookReceiver((n) => (n === 1 ? 500 : 200));
    cleanups.push(() => receiver.close());
    const url = await receiver.listen();
    const warnings: string[] = [];
    const baton = await Baton.open({
      db: proxied.toString(),
      workflows: [ship],
      logger: recordingLogger(warnings),
      nodeId: "outage-node",
      leaseMs: 3_000,
      webhooks: { pollMs: 100, leaseMs: 2_000, retry: { initialIntervalMs: 1_000, jitter: 0 } },
    });
    cleanups.push(() => baton.close());
    const subscription = await baton.webhooks.create({ topics: ["run.completed"], url });
    receiver.secret = subscription.secret;
    await baton.start(ship, { order: "o-1" }, { runId: "o-1" });
    await waitFor(async () => (await baton.webhooks.deliveries(subscription.id)).length === 1, {
      what: "the first attempt recorded",
    });

    await proxy.refuse();
    await waitFor(() => warnings.some((w) => w.startsWith("webhooks: could not")), {
      what: "the dispatcher to meet the outage",
      timeoutMs: 10_000,
    });
    await proxy.restore();

    await waitFor(() => receiver.effects.size === 1, {
      what: `the delivery after the outage (answered: ${receiver.requests.map((r) => r.status).join(", ")})`,
      timeoutMs: 20_000,
    });
    expect(new Set(receiver.requests.map((r) => r.id)).size).toBe(1);
    expect(receiver.requests.at(-1)!.status).toBe(200);
  });
});
