/**
 * The engine process of the fault-point crash test (see fault-points.test.ts).
 *
 *   node --import tsx test/crash/fault-child.ts <dbPath> <effectsPath> <faultPoint|none> <killAtHit>
 *
 * Runs four order sagas one after another (two end compensated) over in-process services that
 * record every execution in a separate SQLite file. With a fault point, the process SIGKILLs
 * itself the n-th time the engine reaches that point. Prints DONE <json of outcomes> at the end.
 */
import Database from "better-sqlite3";
import {
  Baton,
  StepFailedError,
  local,
  service,
  silentLogger,
  workflow,
} from "../../src/index.js";
import type { FaultPoint } from "../../src/testing/index.js";

const [dbPath, effectsPath, point = "none", killAtArg = "1"] = process.argv.slice(2);
if (!dbPath || !effectsPath) {
  process.stderr.write(
    "usage: fault-child.ts <dbPath> <effectsPath> <faultPoint|none> <killAtHit>\n",
  );
  process.exit(2);
}
const killAt = Number(killAtArg);

const effects = new Database(effectsPath);
effects.pragma("journal_mode = WAL");
effects.pragma("synchronous = FULL");
effects.exec(`CREATE TABLE IF NOT EXISTS executions (key TEXT NOT NULL, command TEXT NOT NULL);
              CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, command TEXT NOT NULL, result TEXT NOT NULL)`);
const recordExecution = effects.prepare("INSERT INTO executions (key, command) VALUES (?, ?)");
const insertEffect = effects.prepare(
  "INSERT INTO effects (key, command, result) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
);
const findEffect = effects.prepare("SELECT result FROM effects WHERE key = ?");

/** A service that is exactly-once in effect: it deduplicates by idempotency key, as we tell users to. */
function once(command: string, produce: (input: { orderId: string }) => object) {
  return (input: { orderId: string }, meta: { idempotencyKey: string }) => {
    recordExecution.run(meta.idempotencyKey, command);
    insertEffect.run(meta.idempotencyKey, command, JSON.stringify(produce(input)));
    return JSON.parse((findEffect.get(meta.idempotencyKey) as { result: string }).result) as object;
  };
}

const inventory = service(
  "inventory",
  local({
    reserve: once("reserve", (o) => ({ reservationId: `res-${o.orderId}` })),
    release: once("release", (o) => ({ released: o.orderId })),
  }),
);
const payments = service(
  "payments",
  local({
    charge: once("charge", (o) => ({ paymentId: `pay-${o.orderId}` })),
    refund: once("refund", (o) => ({ refunded: o.orderId })),
  }),
);
const shipping = service(
  "shipping",
  local({
    ship: (input: { orderId: string; fail: boolean }, meta) => {
      if (input.fail) throw new StepFailedError("no carrier", { code: "NO_CARRIER" });
      return once("ship", (o) => ({ trackingId: `trk-${o.orderId}` }))(input, meta);
    },
  }),
);

const placeOrder = workflow(
  "placeOrder",
  async (ctx, order: { orderId: string; fail: boolean }) => {
    const reservation = await ctx.call(inventory, "reserve", order, {
      compensate: () => ctx.call(inventory, "release", order),
    });
    const payment = await ctx.call(payments, "charge", order, {
      compensate: () => ctx.call(payments, "refund", order),
    });
    const shipment = await ctx.call(shipping, "ship", order);
    return { reservation, payment, shipment };
  },
);

let hits = 0;
const faultInjector =
  point === "none"
    ? undefined
    : (reached: FaultPoint) => {
        if (reached === point && ++hits === killAt) process.kill(process.pid, "SIGKILL");
      };

const baton = await Baton.open({
  db: `sqlite:${dbPath}`,
  workflows: [placeOrder],
  services: [inventory, payments, shipping],
  logger: silentLogger,
  ...(faultInjector ? { faultInjector } : {}),
});
const outcomes: Record<string, unknown> = {};
for (const [orderId, fail] of [
  ["o-1", false],
  ["o-2", true],
  ["o-3", false],
  ["o-4", true],
] as const) {
  await baton.start(placeOrder, { orderId, fail }, { runId: orderId });
  const run = await baton.wait(orderId);
  outcomes[orderId] = {
    status: run.status,
    output: run.output ?? null,
    error: run.error?.code ?? null,
  };
}
await baton.close();
process.stdout.write(`DONE ${JSON.stringify(outcomes)}\n`);
