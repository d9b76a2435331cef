import type pg from "pg";
import { TERMINAL_STATUSES } from "../../common/index.js";
import type { JournalReader, RunPosition } from "../journal-reader.js";
import { toRunRecord, type RunRow } from "../rows.js";
import type { JournalEntry, RunRecord } from "../store.js";
import { storeFailed } from "./postgres-errors.js";
import { createPool } from "./postgres-pool.js";
import { postgresStoreOptions } from "./postgres-url.js";

/**
 * PostgreSQL read through one read-only session (`default_transaction_read_only = on`, set when
 * the connection opens): the server refuses any write, so it is safe against a production
 * primary or a hot standby.
 */
export class PostgresJournalReader implements JournalReader {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = createPool({
      connectionString: postgresStoreOptions(url).connectionString,
      max: 1,
      readOnly: true,
      onIdleError: () => undefined, // the next query reports a dead connection
    });
  }

  private async rows<T extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<T[]> {
    try {
      return (await this.pool.query<T>(sql, params)).rows;
    } catch (e) {
      throw storeFailed("read", e);
    }
  }

  async proveReadOnly(): Promise<string> {
    const [row] = await this.rows<{ transaction_read_only: string }>(
      "SHOW transaction_read_only",
      [],
    );
    if (row?.transaction_read_only !== "on")
      throw new Error("the PostgreSQL session is not read-only");
    return "PostgreSQL session read-only (default_transaction_read_only = on, checked: transaction_read_only = on)";
  }

  async countUnfinished(): Promise<number> {
    const [row] = await this.rows<{ n: number }>(
      "SELECT count(*)::int AS n FROM runs WHERE status <> ALL($1)",
      [TERMINAL_STATUSES],
    );
    return row?.n ?? 0;
  }

  async unfinishedRuns(after: RunPosition | undefined, limit: number): Promise<RunRecord[]> {
    const rows = after
      ? await this.rows<RunRow>(
          `SELECT * FROM runs WHERE status <> ALL($1) AND (created_at, run_id) > ($2, $3)
           ORDER BY created_at, run_id LIMIT $4`,
          [TERMINAL_STATUSES, after.createdAt, after.runId, limit],
        )
      : await this.rows<RunRow>(
          "SELECT * FROM runs WHERE status <> ALL($1) ORDER BY created_at, run_id LIMIT $2",
          [TERMINAL_STATUSES, limit],
        );
    return rows.map(toRecord);
  }

  async recentTerminalRuns(limit: number): Promise<RunRecord[]> {
    const rows = await this.rows<RunRow>(
      "SELECT * FROM runs WHERE status = ANY($1) ORDER BY updated_at DESC, run_id DESC LIMIT $2",
      [TERMINAL_STATUSES, limit],
    );
    return rows.map(toRecord);
  }

  readJournal(runId: string): Promise<JournalEntry[]> {
    return this.rows<JournalEntry>(
      "SELECT position, seq, type, name, data, at FROM journal WHERE run_id = $1 ORDER BY position",
      [runId],
    );
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A database from before versions (migration 0010) has no version column: its runs are 1. */
function toRecord(row: RunRow): RunRecord {
  return toRunRecord({ ...row, version: row.version ?? 1 });
}
