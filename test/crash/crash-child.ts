/**
 * One incarnation of the crash-recovery test's engine process (see crash-recovery.test.ts).
 *
 *   node --import tsx test/crash/crash-child.ts <dbPath> <effectsPath> <incarnation> <runCount> [concurrency]
 *
 * Opens Baton on `dbPath` (startup recovery resumes whatever an earlier, killed incarnation
 * left unfinished), then idempotently starts runs crash-0 … crash-{runCount-1} a few at a time
 * and waits for each to end. Every step and command body records its execution in a separate
 * SQLite "effects" database, fsynced before the body returns, so the row survives a SIGKILL
 * that lands right after it. Prints READY once loaded, ALL_TERMINAL once every run is terminal
 * and the engine closed cleanly; the parent kills it with SIGKILL at random moments in between.
 */
import { setTimeout as delay } from "node:timers/promises";
import Database from "better-sqlite3";
import {
  Baton,
  StepFailedError,
  isTerminal,
  local,
  service,
  workflow,
  type Logger,
} from "../../src/index.js";

const [dbPath, effectsPath, incarnationArg, runCountArg, concurrencyArg = "8"] =
  process.argv.slice(2);
if (!dbPath || !effectsPath || !incarnationArg || !runCountArg) {
  process.stderr.write(
    "usage: crash-child.ts <dbPath> <effectsPath> <incarnation> <runCount> [concurrency]\n",
  );
  process.exit(2);
}
const INCARNATION = Number(incarnationArg);
const RUN_COUNT = Number(runCountArg);
const CONCURRENCY = Number(concurrencyArg);

process.stdout.write("READY\n");

// ─── The effects database: the services' own record of what they executed ─────────────

const effectsDb = new Database(effectsPath);
effectsDb.pragma("journal_mode = WAL");
effectsDb.pragma("synchronous = FULL");
effectsDb.pragma("busy_timeout = 5000");
effectsDb.exec(`CREATE TABLE IF NOT EXISTS effects (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  idempotency_key TEXT NOT NULL,
  step_name       TEXT NOT NULL,
  incarnation     INTEGER NOT NULL,
  output_json     TEXT NOT NULL,
  at              INTEGER NOT NULL
)`);
const insertEffect = effectsDb.prepare(
  "INSERT INTO effects (idempotency_key, step_name, incarnation, output_json, at) VALUES (?, ?, ?, ?, ?)",
);

/**
 * Records one execution durably, then takes a moment to reply, like a service would: a kill in
 * that moment leaves an execution the journal does not know of, which recovery must redo.
 * Returns the output tagged with this incarnation.
 */
async function execute<T extends object>(
  idempotencyKey: string,
  stepName: string,
  output: T,
): Promise<T & { incarnation: number }> {
  const tagged = { ...output, incarnation: INCARNATION };
  insertEffect.run(idempotencyKey, stepName, INCARNATION, JSON.stringify(tagged), Date.now());
  await delay(1 + (idempotencyKey.length % 3));
  return tagged;
}

// ─── The workflow: steps, durable sleeps, calls to a local service, a saga ─────────────

/** Must match `inputFor` in crash-recovery.test.ts. */
interface CrashInput {
  i: number;
  shipFails: boolean;
  napMs: number;
}

function inputFor(i: number): CrashInput {
  return { i, shipFails: i % 4 === 3, napMs: (i * 7) % 61 };
}

const ledger = service(
  "ledger",
  local({
    charge: (input: { i: number; amount: number }, meta) =>
      execute(meta.idempotencyKey, "ledger.charge", {
        paymentId: `pay-${input.i}`,
        amount: input.amount,
      }),
    refund: (payment: { paymentId: string }, meta) =>
      execute(meta.idempotencyKey, "ledger.refund", { refunded: payment.paymentId }),
    release: (reservation: { reservationId: string }, meta) =>
      execute(meta.idempotencyKey, "ledger.release", { released: reservation.reservationId }),
  }),
);

const crashy = workflow(
  "crashy",
  async (ctx, input: CrashInput) => {
    const reservation = await ctx.step(
      "reserve",
      (info) => execute(info.idempotencyKey, "reserve", { reservationId: `res-${input.i}` }),
      { compensate: (r) => ctx.call(ledger, "release", r) },
    );
    await ctx.sleep(input.napMs);
    const payment = await ctx.call<{ paymentId: string }>(
      ledger,
      "charge",
      { i: input.i, amount: 100 + input.i },
      { compensate: (p) => ctx.call(ledger, "refund", p) },
    );
    await ctx.sleep(Math.floor(ctx.random() * 60));
    const shipment = await ctx.step("ship", async (info) => {
      if (input.shipFails) {
        await execute(info.idempotencyKey, "ship", { failed: "NO_CARRIER" });
        throw new StepFailedError(`cannot ship run ${input.i}: no carrier`, {
          code: "NO_CARRIER",
          details: { incarnation: INCARNATION },
        });
      }
      return execute(info.idempotencyKey, "ship", { trackingId: `trk-${input.i}` });
    });
    return { reservation, payment, shipment };
  },
  { retry: { maxAttempts: 3, initialIntervalMs: 5, maxIntervalMs: 20 } },
);

// ─── Main ───────────────────────────────────────────────────────────────────────────────

/** Only problems reach stderr; the parent shows them if the test fails. */
function stderrLogger(bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (obj: object, msg?: string) =>
    process.stderr.write(
      `${JSON.stringify({ level, incarnation: INCARNATION, ...bindings, ...obj, msg })}\n`,
    );
  return {
    debug: () => {},
    info: () => {},
    warn: write("warn"),
    error: write("error"),
    child: (more) => stderrLogger({ ...bindings, ...more }),
  };
}

const baton = await Baton.open({
  db: `sqlite:${dbPath}`,
  workflows: [crashy],
  services: [ledger],
  logger: stderrLogger(),
});

let next = 0;
async function starter(): Promise<void> {
  while (next < RUN_COUNT) {
    const i = next++;
    const runId = `crash-${i}`;
    // Starting an existing run id returns the existing run: restarts neither lose nor duplicate runs.
    await baton.start(crashy, inputFor(i), { runId });
    await baton.wait(runId);
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, () => starter()));

for (let i = 0; i < RUN_COUNT; i++) {
  const run = await baton.get(`crash-${i}`);
  if (!isTerminal(run.status))
    throw new Error(`run crash-${i} is ${run.status} after its wait ended`);
}
await baton.close();
effectsDb.close();
process.stdout.write("ALL_TERMINAL\n");
process.exit(0);
