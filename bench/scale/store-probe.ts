import Database from "better-sqlite3";

/**
 * Reads a Baton SQLite file from outside the engine's process, read-only, to see how far its
 * runs are without asking (and disturbing) the engine.
 */
export class StoreProbe {
  private readonly db: Database.Database;
  private readonly countIn: Database.Statement;

  constructor(path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.countIn = this.db.prepare("SELECT count(*) AS n FROM runs WHERE status IN (SELECT value FROM json_each(?))");
  }

  /** Runs whose status is one of `statuses`. */
  count(statuses: readonly string[]): number {
    return (this.countIn.get(JSON.stringify(statuses)) as { n: number }).n;
  }

  countByStatus(): Record<string, number> {
    const rows = this.db.prepare("SELECT status, count(*) AS n FROM runs GROUP BY status").all() as Array<{ status: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** Journal entries of one type. */
  countEntries(type: string): number {
    return (this.db.prepare("SELECT count(*) AS n FROM journal WHERE type = ?").get(type) as { n: number }).n;
  }

  /** The latest fire time of any durable sleep, ms since the epoch. */
  lastTimerDueAt(): number | undefined {
    const row = this.db.prepare("SELECT max(json_extract(data, '$.fireAt')) AS at FROM journal WHERE type = 'sleep.started'").get() as {
      at: number | null;
    };
    return row.at ?? undefined;
  }

  /**
   * Per run whose id starts with `prefix`: when its first queued command was enqueued and when
   * that task ended (engine clock, ms), its status and deliveries, and when the reply entered
   * the run's journal.
   */
  commandTimes(prefix: string): CommandTimes[] {
    return this.db
      .prepare(
        `SELECT t.run_id AS runId, t.created_at AS enqueuedAt, t.updated_at AS endedAt, t.status, t.attempt AS deliveries,
                (SELECT j.at FROM journal j WHERE j.run_id = t.run_id AND j.type = 'call.completed' AND j.seq = t.seq) AS replyAt
         FROM tasks t WHERE t.run_id >= ? AND t.run_id < ? ORDER BY t.run_id, t.seq`,
      )
      .all(prefix, `${prefix}\uffff`) as CommandTimes[];
  }

  close(): void {
    this.db.close();
  }
}

export interface CommandTimes {
  runId: string;
  enqueuedAt: number;
  endedAt: number;
  status: string;
  deliveries: number;
  replyAt: number | null;
}

export const TERMINAL = ["completed", "compensated", "failed", "cancelled"] as const;

/** Polls `read` until it returns true, every `intervalMs`, up to `timeoutMs`; false on timeout. */
export async function pollUntil(read: () => boolean, intervalMs: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (read()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
