import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { TERMINAL_STATUSES, ValidationError } from "../../common/index.js";
import type { JournalReader, RunPosition } from "../journal-reader.js";
import { toRunRecord, type RunRow } from "../rows.js";
import type { JournalEntry, RunRecord } from "../store.js";

const TERMINAL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(", ");

/**
 * A SQLite database opened read-only (SQLITE_OPEN_READONLY): it takes no lock a server would
 * wait on beyond a reader's, runs no migration and cannot write. A server may be running on it.
 */
export class SqliteJournalReader implements JournalReader {
  private readonly db: Database.Database;

  constructor(path: string) {
    if (!existsSync(path))
      throw new ValidationError("INVALID_ARGUMENT", `no SQLite database at ${path}`);
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.db.pragma("busy_timeout = 5000");
  }

  proveReadOnly(): Promise<string> {
    if (!this.db.readonly) throw new Error("the SQLite database is not open read-only");
    // query_only refuses writes even through a statement that slipped past the open flag.
    this.db.pragma("query_only = ON");
    return Promise.resolve("SQLite database opened read-only (SQLITE_OPEN_READONLY, query_only)");
  }

  countUnfinished(): Promise<number> {
    const row = this.db
      .prepare(`SELECT COUNT(*) AS n FROM runs WHERE status NOT IN (${TERMINAL})`)
      .get() as { n: number };
    return Promise.resolve(row.n);
  }

  unfinishedRuns(after: RunPosition | undefined, limit: number): Promise<RunRecord[]> {
    const rows = (
      after
        ? this.db
            .prepare(
              `SELECT * FROM runs WHERE status NOT IN (${TERMINAL})
               AND (created_at > ? OR (created_at = ? AND run_id > ?))
               ORDER BY created_at, run_id LIMIT ?`,
            )
            .all(after.createdAt, after.createdAt, after.runId, limit)
        : this.db
            .prepare(
              `SELECT * FROM runs WHERE status NOT IN (${TERMINAL}) ORDER BY created_at, run_id LIMIT ?`,
            )
            .all(limit)
    ) as RunRow[];
    return Promise.resolve(rows.map(toRecord));
  }

  recentTerminalRuns(limit: number): Promise<RunRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM runs WHERE status IN (${TERMINAL}) ORDER BY updated_at DESC, run_id DESC LIMIT ?`,
      )
      .all(limit) as RunRow[];
    return Promise.resolve(rows.map(toRecord));
  }

  readJournal(runId: string): Promise<JournalEntry[]> {
    return Promise.resolve(
      this.db
        .prepare(
          "SELECT position, seq, type, name, data, at FROM journal WHERE run_id = ? ORDER BY position",
        )
        .all(runId) as JournalEntry[],
    );
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

/** A database from before versions (migration 0010) has no version column: its runs are 1. */
function toRecord(row: RunRow): RunRecord {
  return toRunRecord({ ...row, version: row.version ?? 1 });
}
