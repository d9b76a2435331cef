/**
 * One Baton node of the multi-node tests (see cluster.test.ts), on a shared PostgreSQL database.
 *
 *   node --import tsx test/cluster/cluster-node.ts <postgresUrl> <nodeId> <leaseMs> [workflows]
 *
 * `workflows`: a comma list of the workflows this node knows (default all, at version 1), to play
 * a node of an older release during a rolling deploy; `name@2` is version 2 of a workflow (only
 * `approval` has one), so `approval@2` alone plays a node deployed without version 1.
 *
 * Serves the HTTP API on a free loopback port and prints `READY <url>`. Its services are in
 * process and record every execution in the table `test_executions` of the same database,
 * with the idempotency key and the node that ran it, so the test can check that no step ran
 * under two keys and that a fenced node did nothing after it lost its lease.
 */
import pg from "pg";
import { Baton, StepFailedError, local, queue, service, workflow } from "../../src/index.js";

const [url, nodeId, leaseArg = "2000", workflowsArg] = process.argv.slice(2);
if (!url || !nodeId) {
  process.stderr.write("usage: cluster-node.ts <postgresUrl> <nodeId> <leaseMs>\n");
  process.exit(2);
}

const effects = new pg.Pool({ connectionString: url, max: 4 });

async function record(step: string, runId: string, idempotencyKey: string): Promise<void> {
  await effects.query(
    "INSERT INTO test_executions (run_id, step, idempotency_key, node_id, at) VALUES ($1, $2, $3, $4, $5)",
    [runId, step, idempotencyKey, nodeId, Date.now()],
  );
}

const handler =
  (step: string, fail?: (input: Order) => boolean) =>
  async (input: Order, meta: { idempotencyKey: string; runId: string }): Promise<object> => {
    if (fail?.(input))
      throw new StepFailedError(`${step} refused order ${input.orderId}`, { code: "REFUSED" });
    await record(step, meta.runId, meta.idempotencyKey);
    return { step, orderId: input.orderId, by: nodeId };
  };

interface Order {
  orderId: string;
  napMs: number;
  failShip: boolean;
}

const inventory = service(
  "inventory",
  local({ reserve: handler("reserve"), release: handler("release") }),
);
const payments = service(
  "payments",
  local({ charge: handler("charge"), refund: handler("refund") }),
);
const shipping = service("shipping", local({ ship: handler("ship", (o) => o.failShip) }));

const placeOrder = workflow(
  "placeOrder",
  async (ctx, order: Order) => {
    const reservation = await ctx.call(inventory, "reserve", order, {
      compensate: () => ctx.call(inventory, "release", order),
    });
    await ctx.sleep(order.napMs);
    const payment = await ctx.call(payments, "charge", order, {
      compensate: () => ctx.call(payments, "refund", order),
    });
    const shipment = await ctx.call(shipping, "ship", order);
    return { reservation, payment, shipment };
  },
  { retry: { maxAttempts: 3, initialIntervalMs: 50 } },
);

const approval = workflow("approval", async (ctx) => {
  const decision = await ctx.waitForSignal<{ approved: boolean }>("decision");
  return { decision, decidedOn: nodeId };
});

/** Version 2 of approval: says which version decided. */
const approvalV2 = workflow(
  "approval",
  async (ctx) => {
    const decision = await ctx.waitForSignal<{ approved: boolean }>("decision");
    return { decision, decidedOn: nodeId, version: 2 };
  },
  { version: 2 },
);

/** Passes once the test opens the gate (a row in test_gates): a fault an operator fixes. */
const gate = service(
  "gate",
  local({
    pass: async (input: { key: string }) => {
      const open = await effects.query("SELECT 1 FROM test_gates WHERE key = $1", [input.key]);
      if (!open.rowCount)
        throw new StepFailedError(`gate ${input.key} is closed`, { code: "GATE_CLOSED" });
      return { passed: input.key, by: nodeId };
    },
  }),
);

const gated = workflow("gated", async (ctx, input: { key: string }) =>
  ctx.call(gate, "pass", input),
);

/** Rolls back through a compensation that fails until its gate opens; waits for an operator. */
const guarded = workflow(
  "guarded",
  async (ctx, input: { key: string }) => {
    await ctx.call(
      inventory,
      "reserve",
      { orderId: input.key, napMs: 0, failShip: false },
      {
        compensate: () => ctx.call(gate, "pass", { key: `${input.key}:undo` }),
      },
    );
    return ctx.call(gate, "pass", input);
  },
  { onCompensationFailure: "event" },
);

/**
 * Served by workers through the queue, which the tests play over HTTP: `billing` with a task lease
 * far longer than the node lease, `audit` with no worker at all.
 */
const billing = service("billing", queue({ leaseMs: 30_000 }));
const audit = service("audit", queue({ leaseMs: 30_000 }));

const queuedOrder = workflow(
  "queuedOrder",
  async (ctx, order: { orderId: string }) => ctx.call(billing, "charge", order),
  { retry: { maxAttempts: 5, initialIntervalMs: 50 } },
);

const audited = workflow("audited", async (ctx, input: { key: string }) =>
  ctx.call(audit, "check", input),
);

/** Triggered: one run per order.placed event (docs/events.md). */
const fulfil = workflow(
  "fulfil",
  async (ctx, input: { orderId: string }) => ctx.step("note", () => ({ ...input, by: nodeId })),
  { on: "order.placed" },
);

/** Waits for the payment of its order, published through whichever node. */
const settle = workflow("settle", async (ctx, input: { orderId: string }) => {
  const payment = await ctx.waitForEvent<{ cents: number }>("payment.settled", {
    where: { orderId: input.orderId },
  });
  return { paid: payment.cents, on: nodeId };
});

const baton = await Baton.open({
  db: url,
  nodeId,
  leaseMs: Number(leaseArg),
  workflows: [
    placeOrder,
    approval,
    approvalV2,
    gated,
    guarded,
    queuedOrder,
    audited,
    fulfil,
    settle,
  ].filter((w) =>
    workflowsArg === undefined
      ? w.version === 1
      : (w.version === 1 && workflowsArg.split(",").includes(w.name)) ||
        workflowsArg.split(",").includes(`${w.name}@${w.version}`),
  ),
  services: [inventory, payments, shipping, gate, billing, audit],
});
const serving = await baton.serve({ port: 0 });
process.stdout.write(`READY ${serving.url}\n`);

const stop = (): void => {
  void baton
    .close()
    .then(() => effects.end())
    .then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
