/**
 * One Baton node of the chaos suite (see chaos.test.ts), on PostgreSQL.
 *
 *   node --import tsx test/chaos/chaos-node.ts <storeUrl> <effectsUrl> <nodeId> <leaseMs>
 *
 * `storeUrl` is where the engine keeps its state (in the suite: through the fault-injecting
 * proxy); `effectsUrl` is the services' own ledger, reached directly, as an external system
 * would be. Every execution of a command is written to `chaos_calls`; its effect is written once
 * per idempotency key to `chaos_effects` (a second execution under the same key changes nothing,
 * as a well-behaved service does). A refund takes effect only if the run was charged. The ledger
 * write is retried until it succeeds, so a service never fails because of the faults injected
 * into the database: what the checkers see is the orchestrator's doing.
 *
 * Prints `READY <url>` once it serves the HTTP API.
 */
import pg from "pg";
import { Baton, StepFailedError, local, service, workflow } from "../../src/index.js";

const [storeUrl, effectsUrl, nodeId, leaseArg = "2000"] = process.argv.slice(2);
if (!storeUrl || !effectsUrl || !nodeId) {
  process.stderr.write("usage: chaos-node.ts <storeUrl> <effectsUrl> <nodeId> <leaseMs>\n");
  process.exit(2);
}

const ledger = new pg.Pool({
  connectionString: effectsUrl,
  max: 4,
  application_name: "chaos-effects",
  connectionTimeoutMillis: 2_000,
});
ledger.on("error", () => undefined); // an idle connection cut by a database restart

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `query` until the ledger answers: the service's own storage is reliable, only slower. */
async function durably(text: string, values: unknown[]): Promise<pg.QueryResult> {
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await ledger.query(text, values);
    } catch {
      await pause(delay);
    }
  }
}

interface Meta {
  idempotencyKey: string;
  runId: string;
  attempt: number;
}

async function execute(kind: string, meta: Meta, stepMs: number): Promise<void> {
  await durably(
    "INSERT INTO chaos_calls (idempotency_key, run_id, kind, attempt, node_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
    [meta.idempotencyKey, meta.runId, kind, meta.attempt, nodeId, Date.now()],
  );
  // The step is executing for a while: a nemesis that freezes this node may catch it here.
  if (stepMs > 0) await pause(stepMs);
}

async function effect(kind: string, meta: Meta): Promise<void> {
  await durably(
    `INSERT INTO chaos_effects (idempotency_key, run_id, kind, node_id, at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING`,
    [meta.idempotencyKey, meta.runId, kind, nodeId, Date.now()],
  );
}

interface Order {
  orderId: string;
  amount: number;
  napMs: number;
  stepMs: number;
  failShip: boolean;
  /** Until this time (ms since the epoch) `refund` refuses for good: the rollback stops, failed. */
  refundRefusedUntil?: number;
}

const step =
  (kind: string, refuse?: (o: Order) => boolean) =>
  async (order: Order, meta: Meta): Promise<object> => {
    await execute(kind, meta, order.stepMs);
    if (refuse?.(order))
      throw new StepFailedError(`${kind} refused ${order.orderId}`, { code: "REFUSED" });
    await effect(kind, meta);
    return { kind, orderId: order.orderId, by: nodeId };
  };

const inventory = service(
  "inventory",
  local({ reserve: step("reserve"), release: step("release") }),
);
const shipping = service("shipping", local({ ship: step("ship", (o) => o.failShip) }));
const payments = service(
  "payments",
  local({
    charge: step("charge"),
    // Compensates a charge whose outcome may be unknown: refunds only what was charged.
    refund: async (order: Order, meta: Meta) => {
      await execute("refund", meta, order.stepMs);
      if (order.refundRefusedUntil !== undefined && Date.now() < order.refundRefusedUntil)
        throw new StepFailedError(`refund of ${order.orderId} refused for now`, {
          code: "REFUND_REFUSED",
        });
      const charged = await durably(
        "SELECT 1 FROM chaos_effects WHERE run_id = $1 AND kind = 'charge'",
        [meta.runId],
      );
      if (charged.rowCount) await effect("refund", meta);
      return { refunded: charged.rowCount ? order.amount : 0, by: nodeId };
    },
  }),
);

const order = workflow(
  "order",
  async (ctx, o: Order) => {
    const reservation = await ctx.call(inventory, "reserve", o, {
      compensate: () => ctx.call(inventory, "release", o),
    });
    if (o.napMs > 0) await ctx.sleep(o.napMs);
    const payment = await ctx.call(payments, "charge", o, {
      compensate: () => ctx.call(payments, "refund", o),
      compensateUnknown: true,
    });
    const shipment = await ctx.call(shipping, "ship", o);
    return { reservation, payment, shipment };
  },
  // Generous: the services never fail on their own, only `ship` refuses for good.
  { retry: { maxAttempts: 20, initialIntervalMs: 50, maxIntervalMs: 1_000 } },
);

/** Waits for `count` distinct signals `item` ({id}) and returns their ids in arrival order. */
const collect = workflow("collect", async (ctx, input: { count: number }) => {
  const seen: string[] = [];
  while (seen.length < input.count) {
    const item = await ctx.waitForSignal<{ id: string }>("item");
    if (!seen.includes(item.id)) seen.push(item.id);
  }
  return { items: seen };
});

const baton = await Baton.open({
  db: storeUrl,
  nodeId,
  leaseMs: Number(leaseArg),
  workflows: [order, collect],
  services: [inventory, payments, shipping],
});
const serving = await baton.serve({ port: 0 });
process.stdout.write(`READY ${serving.url}\n`);

const stop = (): void => {
  void baton
    .close()
    .then(() => ledger.end())
    .then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
