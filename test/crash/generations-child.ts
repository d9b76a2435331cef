/**
 * One incarnation of the generations crash test's engine process (see generations-crash.test.ts).
 *
 *   node --import tsx test/crash/generations-child.ts <dbPath> <effectsPath> <incarnation> [killAt]
 *
 * Opens Baton on `dbPath` (startup recovery resumes the run an earlier, killed incarnation left),
 * idempotently starts run `loop-1` of `looper` — ITERATIONS iterations of one step each,
 * continuing as new every PER_GENERATION — and waits for its end. Each step records its execution
 * in a separate SQLite "effects" database, fsynced before it returns. Prints READY once loaded and
 * DONE {json} at the end; the parent kills it with SIGKILL at random moments in between. With
 * `killAt` n, the process SIGKILLs itself at the n-th "after-generation-commit" fault point: right
 * after the write that ended a generation and started the next, before anything else happens.
 */
import { setTimeout as delay } from "node:timers/promises";
import Database from "better-sqlite3";
import { Baton, workflow, type Logger } from "../../src/index.js";

export const ITERATIONS = 120;
export const PER_GENERATION = 10;

const [dbPath, effectsPath, incarnationArg, killAtGenerationCommit] = process.argv.slice(2);
if (!dbPath || !effectsPath || !incarnationArg) {
  process.stderr.write("usage: generations-child.ts <dbPath> <effectsPath> <incarnation>\n");
  process.exit(2);
}
const INCARNATION = Number(incarnationArg);

const effectsDb = new Database(effectsPath);
effectsDb.pragma("journal_mode = WAL");
effectsDb.pragma("synchronous = FULL");
effectsDb.pragma("busy_timeout = 5000");
effectsDb.exec(`CREATE TABLE IF NOT EXISTS effects (
  idempotency_key TEXT NOT NULL,
  i               INTEGER NOT NULL,
  incarnation     INTEGER NOT NULL
)`);
const insertEffect = effectsDb.prepare(
  "INSERT INTO effects (idempotency_key, i, incarnation) VALUES (?, ?, ?)",
);

interface LoopState {
  i: number;
  sum: number;
}

const looper = workflow("looper", async (ctx, state: LoopState) => {
  let { i, sum } = state;
  const end = Math.min(ITERATIONS, i + PER_GENERATION);
  for (; i < end; i++) {
    const at = i;
    sum += await ctx.step("add", async (info) => {
      insertEffect.run(info.idempotencyKey, at, INCARNATION);
      // A service's moment of work: a kill may land after the effect and before the journal.
      await delay(4);
      return at;
    });
  }
  if (i >= ITERATIONS) return { i, sum };
  return ctx.continueAsNew({ i, sum });
});

const quiet: Logger = {
  debug: () => {},
  info: () => {},
  warn: (obj, msg) => process.stderr.write(`${msg ?? ""} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`${msg ?? ""} ${JSON.stringify(obj)}\n`),
  child: () => quiet,
};

let generationCommits = 0;
const baton = await Baton.open({
  // A SIGKILL is a process crash, not a power loss: WAL commits survive it without a full fsync.
  db: `sqlite:${dbPath}?synchronous=normal`,
  workflows: [looper],
  logger: quiet,
  faultInjector: (point) => {
    if (
      point === "after-generation-commit" &&
      ++generationCommits === Number(killAtGenerationCommit)
    )
      process.kill(process.pid, "SIGKILL");
  },
});
process.stdout.write("READY\n");
await baton.start(looper, { i: 0, sum: 0 }, { runId: "loop-1" });
const output = await baton.result("loop-1");
const run = await baton.get("loop-1");
await baton.close();
effectsDb.close();
process.stdout.write(`DONE ${JSON.stringify({ output, generation: run.generation })}\n`);
