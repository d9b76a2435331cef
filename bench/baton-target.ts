import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { Baton, BatonError } from "../src/index.js";
import { LogTally } from "./logger.js";
import { createBenchDatabase } from "./postgres-server.js";
import { storeCountProblems, type ExpectedRuns } from "./store-check.js";
import type { Target, TargetCheck } from "./target.js";
import { orderSagaWorkflow, stepBodies, type Order, type Outcome } from "./workloads/order-saga.js";

export type BatonTargetName = "sqlite-full" | "sqlite-normal" | "postgres";

/** The database of one case: where Baton opens it, and what its store says after the runs. */
interface CaseDatabase {
  /** The `db` option of `Baton.open`. */
  db: string;
  /** Run statuses and step entries of the runs whose id contains `marker`, plus facts; then gone. */
  inspectAndRemove(marker: string): Promise<{ byStatus: Record<string, number>; stepEntries: number; facts: Record<string, number> }>;
}

export interface BatonTargetOptions {
  /** A superuser's URL on the PostgreSQL server (postgres target only). */
  postgresUrl?: string;
  /** Told the name of the case's database once it exists (postgres target only). */
  onDatabase?: (name: string) => void;
}

/**
 * Baton on a database of the case's own: a fresh SQLite file in a temp dir (`sqlite-full`, the
 * default durability: every group commit fsyncs; `sqlite-normal`: `?synchronous=normal`), or a
 * fresh database on a PostgreSQL server (`postgres`, the server's settings as they are).
 */
export async function openBatonTarget(name: BatonTargetName, options: BatonTargetOptions = {}): Promise<Target> {
  const database = name === "postgres" ? await postgresDatabase(options) : sqliteDatabase(name === "sqlite-full" ? "full" : "normal");
  const counter = { executed: 0 };
  const saga = orderSagaWorkflow(stepBodies(counter));
  const log = new LogTally();
  const baton = await Baton.open({ db: database.db, workflows: [saga], logger: log.logger });

  async function runOrder(order: Order): Promise<Outcome> {
    await baton.start(saga, order, { runId: order.orderId });
    try {
      const output = await baton.result<{ trackingId?: unknown }>(order.orderId);
      return typeof output.trackingId === "string" ? "completed" : `unexpected: completed without a trackingId`;
    } catch (e) {
      const status = e instanceof BatonError && e.code === "RUN_FAILED" ? (e.details as { status?: unknown }).status : undefined;
      if (status === "compensated") return "compensated";
      return `unexpected: ${typeof status === "string" ? status : e instanceof Error ? e.message : String(e)}`;
    }
  }

  async function finish(marker: string, expected: ExpectedRuns): Promise<TargetCheck> {
    await baton.close();
    // The store's view, read after close: statuses and step entries must match the failure rule.
    const { byStatus, stepEntries, facts } = await database.inspectAndRemove(marker);
    const problems = [...log.problems(), ...storeCountProblems(byStatus, stepEntries, expected)];
    return { problems, facts: { ...facts, engineWarnings: log.warnings } };
  }

  return { runOrder, stepsExecuted: () => counter.executed, finish };
}

function sqliteDatabase(durability: "full" | "normal"): CaseDatabase {
  const dir = mkdtempSync(join(tmpdir(), "baton-bench-"));
  const path = join(dir, "bench.db");
  return {
    db: durability === "full" ? `sqlite:${path}` : `sqlite:${path}?synchronous=normal`,
    async inspectAndRemove(marker) {
      const facts = { dbBytes: fileSize(path) + fileSize(`${path}-wal`) };
      const db = new Database(path, { readonly: true });
      try {
        const like = `%${marker}%`;
        const rows = db.prepare("SELECT status, count(*) AS n FROM runs WHERE run_id LIKE ? GROUP BY status").all(like) as Array<{ status: string; n: number }>;
        const steps = db.prepare("SELECT count(*) AS n FROM journal WHERE run_id LIKE ? AND type IN ('step.completed', 'step.failed')").get(like) as { n: number };
        return { byStatus: Object.fromEntries(rows.map((r) => [r.status, r.n])), stepEntries: steps.n, facts };
      } finally {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function postgresDatabase(options: BatonTargetOptions): Promise<CaseDatabase> {
  if (!options.postgresUrl) throw new Error("the postgres target needs a server URL (BATON_BENCH_POSTGRES_URL)");
  const database = await createBenchDatabase(options.postgresUrl);
  options.onDatabase?.(database.name);
  return {
    db: database.url,
    async inspectAndRemove(marker) {
      const client = new pg.Client({ connectionString: database.url });
      try {
        await client.connect();
        const like = `%${marker}%`;
        const rows = await client.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM runs WHERE run_id LIKE $1 GROUP BY status", [like]);
        const steps = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM journal WHERE run_id LIKE $1 AND type IN ('step.completed', 'step.failed')",
          [like],
        );
        const size = await client.query<{ bytes: string }>("SELECT pg_database_size(current_database())::text AS bytes");
        return {
          byStatus: Object.fromEntries(rows.rows.map((r) => [r.status, r.n])),
          stepEntries: steps.rows[0]!.n,
          facts: { dbBytes: Number(size.rows[0]!.bytes) },
        };
      } finally {
        await client.end().catch(() => undefined);
        await database.drop();
      }
    },
  };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
