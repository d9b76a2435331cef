/**
 * A schedule that ticks every second on two real `baton server` processes sharing PostgreSQL,
 * one SIGKILLed in the middle and restarted: every tick starts exactly one run (the tick's run
 * id), no tick is lost (the other node keeps ticking, catch-up `all`), no tick is decided twice.
 */
import { join } from "node:path";
import pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { describePostgres, freshDatabase, type TestDatabase } from "../support/postgres.js";
import { ProcessGroup, eventually, type TestProcess } from "../demo/harness/processes.js";

const WORKFLOWS = join("test", "cluster", "fixtures", "every-second.ts");
const PREFIX = "every-second:";
const RUN_FOR_MS = 20_000;

let db: TestDatabase;
let sql: pg.Pool;
const processes = new ProcessGroup();

beforeEach(async () => {
  db = await freshDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  sql.on("error", () => undefined); // an idle connection cut by the database's drop
});

afterEach(async () => {
  await processes.killAll();
  await sql.end();
  await db.drop();
});

async function startNode(id: string): Promise<TestProcess> {
  const node = processes.startBaton(`node ${id}`, [
    "server",
    "--db",
    db.url,
    "--workflows",
    WORKFLOWS,
    "--port",
    "0",
    "--node-id",
    id,
    "--lease-ms",
    "2000",
  ]);
  await node.waitForOutput(/listening on http:\/\/[\d.]+:\d+/, 60_000);
  return node;
}

/** The ticks that have a run, as ms, oldest first. */
async function tickRuns(): Promise<Array<{ tick: number; status: string }>> {
  const { rows } = await sql.query<{ run_id: string; status: string }>(
    "SELECT run_id, status FROM runs WHERE run_id LIKE $1 ORDER BY run_id",
    [`${PREFIX}%`],
  );
  return rows.map((r) => ({ tick: Date.parse(r.run_id.slice(PREFIX.length)), status: r.status }));
}

describePostgres("schedules on two nodes", () => {
  it("fires every tick of a 1 s schedule exactly once for 20 s while a node is SIGKILLed and restarted", async () => {
    const a = await startNode("sched-a");
    await startNode("sched-b");
    const first = await eventually("the first tick's run", async () => (await tickRuns())[0]?.tick);
    const ticksSince = async (): Promise<number> =>
      (await tickRuns()).filter((r) => r.tick >= first).length;

    // A third of the way in, node a dies with whatever it was doing; b goes on alone.
    await eventually("7 ticks", async () => (await ticksSince()) >= 7, 30_000);
    a.kill("SIGKILL");
    await a.exited;
    const killedAt = Date.now();
    await eventually("4 ticks without node a", async () => (await ticksSince()) >= 11, 30_000);
    await startNode("sched-a");
    const restartedAt = Date.now();
    await eventually(
      `${RUN_FOR_MS / 1000} s of ticks`,
      async () => (await tickRuns()).some((r) => r.tick >= first + RUN_FOR_MS),
      60_000,
    );
    await processes.killAll();

    const runs = await tickRuns();
    const ticks = runs.map((r) => r.tick);
    const last = ticks[ticks.length - 1]!;
    // One run per second from the first tick to the last: no gap (b was up throughout), and no
    // tick twice (by construction of the run id, so also: no decision made twice, below).
    const expected = Array.from({ length: (last - first) / 1000 + 1 }, (_, i) => first + i * 1000);
    const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 23);
    const listing =
      `ticks with a run: ${ticks.map(clock).join(" ")}; node a killed at ${clock(killedAt)}, ` +
      `back at ${clock(restartedAt)}`;
    expect(
      ticks.filter((t) => t >= first),
      listing,
    ).toEqual(expected);
    expect(ticks.length, listing).toBeGreaterThanOrEqual(RUN_FOR_MS / 1000 + 1);

    const { rows } = await sql.query<{ fired_count: number; skipped_count: number }>(
      "SELECT fired_count::int, skipped_count::int FROM schedules WHERE name = 'every-second'",
    );
    // Each tick was decided once (the compare-and-set), none skipped (catch-up all, overlap allow).
    expect(rows[0], listing).toEqual({ fired_count: ticks.length, skipped_count: 0 });
    console.info(
      `schedules: ${ticks.length} ticks, one run each, across a SIGKILL of node a ` +
        `(down ${restartedAt - killedAt} ms)`,
    );
  }, 150_000);
});
