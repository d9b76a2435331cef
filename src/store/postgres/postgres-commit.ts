import type { Pool, PoolClient } from "pg";
import type { ErrorData } from "../../common/index.js";
import type { WriteOp, WriteResult } from "../store.js";
import { planSegments, segmentParams, type Segment } from "./postgres-batch.js";
import { COMMIT_SEGMENT_SQL, type SegmentResultRow } from "./postgres-commit-sql.js";
import { isRetriableAbort, storeFailed, withClient } from "./postgres-errors.js";
import { insertLimitedSignal, isSpecialWrite, startGeneration } from "./postgres-generations.js";
import { toRunRecord, type RunRow } from "../rows.js";

/** A batch aborted by a deadlock or a serialization failure wrote nothing: it is applied again. */
const ATTEMPTS = 3;

/**
 * The group commit: all of a batch in one transaction. A batch of one segment (the usual case)
 * is a single statement, so the whole commit is one round trip and one WAL flush; more segments
 * run in BEGIN … COMMIT, each segment knowing which appends of the earlier ones applied.
 */
export async function commitBatch(pool: Pool, ops: readonly WriteOp[]): Promise<WriteResult[]> {
  if (ops.length === 0) return [];
  const special = new Set<number>();
  ops.forEach((op, index) => {
    if (isSpecialWrite(op)) special.add(index);
  });
  const segments = planSegments(ops, special);
  for (let attempt = 1; ; attempt++) {
    try {
      return await withClient(pool, (client) => applySegments(client, ops, segments, special));
    } catch (e) {
      if (attempt < ATTEMPTS && isRetriableAbort(e)) continue;
      throw storeFailed("commit", e);
    }
  }
}

async function applySegments(
  client: PoolClient,
  ops: readonly WriteOp[],
  segments: readonly Segment[],
  special: ReadonlySet<number>,
): Promise<WriteResult[]> {
  const results = new Array<WriteResult | undefined>(ops.length);
  const settled = new Map<number, boolean>();
  const inTransaction = segments.length > 1 || special.size > 0;
  if (inTransaction) await client.query("BEGIN");
  try {
    for (const segment of segments) {
      const { values, appendOps, createOps } = segmentParams(segment, settled);
      const { rows } = await client.query<SegmentResultRow>({
        // Named: prepared once per connection, the plan reused by every batch.
        name: "baton_commit_segment",
        text: COMMIT_SEGMENT_SQL,
        values,
      });
      const appended = new Set<number>();
      const created = new Set<string>();
      for (const row of rows) {
        if (row.kind === "appended") appended.add(row.op!);
        else if (row.kind === "created") created.add(row.run_id!);
        else if (row.kind === "signalled")
          results[row.op!] = { ok: true, signalId: row.signal_id! };
      }
      for (const op of appendOps) {
        settled.set(op, appended.has(op));
        results[op] = appended.has(op) ? { ok: true } : { ok: false, error: fenced(ops[op]!) };
      }
      const existing: Array<[string, number]> = [];
      for (const [runId, op] of createOps) {
        if (created.has(runId)) results[op] = { ok: true, created: true };
        else existing.push([runId, op]);
      }
      // Read within the batch, before a later segment could change the run.
      if (existing.length > 0) {
        if (inTransaction) await readExisting(client, existing, results);
        else await readExistingAfterCommit(client, existing, results);
      }
    }
    // After the segments, in their transaction: a continue applies only if its append did.
    for (const index of special) {
      const op = ops[index]!;
      if (op.type === "insertSignal") results[index] = await insertLimitedSignal(client, op);
      else if (op.type === "appendRun" && settled.get(index)) await startGeneration(client, op);
    }
    if (inTransaction) await client.query("COMMIT");
  } catch (e) {
    if (inTransaction) await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
  return results.map(
    (result, op) => result ?? { ok: false, error: internal(`op ${op} of the batch has no result`) },
  );
}

async function readExisting(
  client: PoolClient,
  existing: ReadonlyArray<[string, number]>,
  results: Array<WriteResult | undefined>,
): Promise<void> {
  const { rows } = await client.query<RunRow>("SELECT * FROM runs WHERE run_id = ANY($1::text[])", [
    existing.map(([runId]) => runId),
  ]);
  const byId = new Map(rows.map((row) => [row.run_id, row]));
  for (const [runId, op] of existing) {
    const row = byId.get(runId);
    results[op] = row
      ? { ok: true, created: false, run: toRunRecord(row) }
      : { ok: false, error: internal(`run ${runId} could be neither created nor read`) };
  }
}

/**
 * The lone statement has committed already: a failure to read the runs it did not create must
 * not report the whole batch as failed. Those createRun ops fail alone (retryable: the run
 * exists, a retry answers created: false).
 */
async function readExistingAfterCommit(
  client: PoolClient,
  existing: ReadonlyArray<[string, number]>,
  results: Array<WriteResult | undefined>,
): Promise<void> {
  try {
    await readExisting(client, existing, results);
  } catch (e) {
    const { code, message } = storeFailed("read an existing run", e);
    for (const [, op] of existing) results[op] = { ok: false, error: { code, message } };
  }
}

function fenced(op: WriteOp): ErrorData {
  if (op.type !== "appendRun") return internal("a fenced op that is not an append");
  return {
    code: "LEASE_LOST",
    message: `run ${op.runId}: journal write at position ${op.expectedLength} (epoch ${op.epoch}) was fenced off`,
  };
}

function internal(message: string): ErrorData {
  return { code: "INTERNAL", message };
}
