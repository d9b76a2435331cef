import type { PoolClient } from "pg";
import type { WriteOp, WriteResult } from "../store.js";
import { RESERVED_SIGNAL_LIKE, tooManySignals } from "../signal-limit.js";
import { Channel } from "./postgres-notifier.js";

type AppendRun = Extract<WriteOp, { type: "appendRun" }>;
type InsertSignal = Extract<WriteOp, { type: "insertSignal" }>;

const NON_TERMINAL = "('pending', 'running', 'waiting', 'compensating')";

/**
 * The writes the one-statement group commit does not carry, applied after its segments in the
 * same transaction: a generation's start (ctx.continueAsNew) and a signal bounded by its run's
 * limit. Rare next to appends, so plain statements.
 */
export function isSpecialWrite(op: WriteOp): boolean {
  return (
    (op.type === "appendRun" && op.continueAsNew !== undefined) ||
    (op.type === "insertSignal" && op.maxPending !== undefined)
  );
}

/**
 * The run's next generation, once its append (fenced, in a segment) applied: input replaced,
 * generation one more, the journal before the new first entry deleted.
 */
export async function startGeneration(client: PoolClient, op: AppendRun): Promise<void> {
  const next = op.continueAsNew!;
  const position = op.expectedLength + op.entries.length;
  await client.query(
    "UPDATE runs SET input = $2, generation = generation + 1, journal_length = $3 WHERE run_id = $1",
    [op.runId, next.input, position + 1],
  );
  await client.query("DELETE FROM journal WHERE run_id = $1 AND position < $2", [
    op.runId,
    position,
  ]);
  const first = next.firstEntry;
  await client.query(
    "INSERT INTO journal (run_id, position, seq, type, name, data, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [op.runId, position, first.seq, first.type, first.name, first.data, first.at],
  );
}

/**
 * A signal under its run's limit. The run's row is locked first (FOR UPDATE, held to commit), so
 * two nodes signalling one run count in turn and cannot both take the last place.
 */
export async function insertLimitedSignal(
  client: PoolClient,
  op: InsertSignal,
): Promise<WriteResult> {
  await client.query("SELECT 1 FROM runs WHERE run_id = $1 FOR UPDATE", [op.runId]);
  const { rows } = await client.query<{ n: number | string }>(
    `SELECT count(*) AS n FROM signals WHERE run_id = $1 AND consumed_seq IS NULL AND name NOT LIKE '${RESERVED_SIGNAL_LIKE}'`,
    [op.runId],
  );
  if (Number(rows[0]?.n ?? 0) >= op.maxPending!)
    return { ok: false, error: tooManySignals(op.runId, op.maxPending!) };
  const inserted = await client.query<{ signal_id: number | string }>(
    "INSERT INTO signals (run_id, name, payload, sent_at) VALUES ($1, $2, $3, $4) RETURNING signal_id",
    [op.runId, op.name, op.payload, op.sentAt],
  );
  // Marked due at the signal's time, as the group commit's wake-ups do; told to every node.
  await client.query(
    `UPDATE runs SET wake_at = LEAST(wake_at, $2) WHERE run_id = $1 AND status IN ${NON_TERMINAL}`,
    [op.runId, op.sentAt],
  );
  await client.query("SELECT pg_notify($1, $2)", [Channel.Runs, op.runId]);
  return { ok: true, signalId: Number(inserted.rows[0]!.signal_id) };
}
