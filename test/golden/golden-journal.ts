import type { JournalEntry } from "../../src/store/index.js";

/** A recorded run: its journal as an earlier version of Baton wrote it, and how it ended. */
export interface GoldenJournal {
  description: string;
  recordedWith: string;
  runId: string;
  workflow: string;
  input: unknown;
  /** Other runs the replay needs (a child run's own journal). */
  companions?: Array<{
    runId: string;
    workflow: string;
    input: unknown;
    parentRunId: string;
    parentSeq: number;
    journal: JournalEntry[];
  }>;
  journal: JournalEntry[];
  outcome: { status: string; output?: unknown; error?: { code: string } };
}
