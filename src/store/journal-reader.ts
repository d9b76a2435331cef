import type { JournalEntry, RunRecord } from "./store.js";

/** Where a page of runs stops: the next page starts after it. */
export interface RunPosition {
  createdAt: number;
  runId: string;
}

/**
 * Read-only access to runs and journals, for `baton replay-check` against a live database or a
 * production replica. It cannot write: SQLite is opened read-only, and every PostgreSQL session
 * is `default_transaction_read_only`, so the server itself refuses a write.
 */
export interface JournalReader {
  /** How the reader is kept from writing, checked against the database, in words. */
  proveReadOnly(): Promise<string>;
  countUnfinished(): Promise<number>;
  /** Runs not yet terminal, oldest first, `limit` after `after`. */
  unfinishedRuns(after: RunPosition | undefined, limit: number): Promise<RunRecord[]>;
  /** The `limit` terminal runs that ended last, newest first. */
  recentTerminalRuns(limit: number): Promise<RunRecord[]>;
  readJournal(runId: string): Promise<JournalEntry[]>;
  close(): Promise<void>;
}
