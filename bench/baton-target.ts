import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Baton, BatonError } from "../src/index.js";
import { LogTally } from "./logger.js";
import type { Target, TargetCheck } from "./target.js";
import { orderSagaWorkflow, stepBodies, type Order, type Outcome } from "./workloads/order-saga.js";

export type Durability = "full" | "normal";

/**
 * Baton on a fresh SQLite file in a temp dir. `full` is the default durability (`sqlite:PATH`,
 * synchronous=FULL: every group commit fsyncs); `normal` is `?synchronous=normal`.
 */
export async function openBatonTarget(durability: Durability): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "baton-bench-"));
  const path = join(dir, "bench.db");
  const counter = { executed: 0 };
  const saga = orderSagaWorkflow(stepBodies(counter));
  const log = new LogTally();
  const baton = await Baton.open({
    db: durability === "full" ? `sqlite:${path}` : `sqlite:${path}?synchronous=normal`,
    workflows: [saga],
    logger: log.logger,
  });

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

  async function finish(marker: string, expected: { completed: number; compensated: number; steps: number }): Promise<TargetCheck> {
    await baton.close();
    const problems = log.problems();
    const facts = { dbBytes: fileSize(path) + fileSize(`${path}-wal`), engineWarnings: log.warnings };
    // The store's view, read after close: statuses and step entries must match the failure rule.
    const db = new Database(path, { readonly: true });
    try {
      const like = `%${marker}%`;
      const byStatus = db.prepare("SELECT status, count(*) AS n FROM runs WHERE run_id LIKE ? GROUP BY status").all(like) as Array<{ status: string; n: number }>;
      const counts = Object.fromEntries(byStatus.map((r) => [r.status, r.n]));
      for (const [status, n] of Object.entries(counts)) {
        const want = status === "completed" ? expected.completed : status === "compensated" ? expected.compensated : 0;
        if (n !== want) problems.push(`store has ${n} ${status} runs, the failure rule predicts ${want}`);
      }
      for (const status of ["completed", "compensated"] as const) {
        if (expected[status] > 0 && counts[status] === undefined) problems.push(`store has no ${status} runs, the failure rule predicts ${expected[status]}`);
      }
      const steps = db
        .prepare("SELECT count(*) AS n FROM journal WHERE run_id LIKE ? AND type IN ('step.completed', 'step.failed')")
        .get(like) as { n: number };
      if (steps.n !== expected.steps) problems.push(`journal has ${steps.n} step completions, expected ${expected.steps}`);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return { problems, facts };
  }

  return { runOrder, stepsExecuted: () => counter.executed, finish };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
