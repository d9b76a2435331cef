import type { ErrorData, RunStatus, WaitingOn } from "../common/index.js";
import type { RunRecord, TaskRecord, TaskStatus } from "./store.js";

/**
 * A row of `runs` as both drivers return it (on PostgreSQL BIGINT is parsed to number, see
 * postgres/postgres-pool.ts).
 */
export interface RunRow {
  run_id: string;
  workflow: string;
  status: RunStatus;
  input: string | null;
  output: string | null;
  error: string | null;
  parent_run_id: string | null;
  parent_seq: number | null;
  created_at: number;
  updated_at: number;
  wake_at: number | null;
  waiting_on: string | null;
  journal_length: number;
  epoch: number;
  owner: string | null;
  version: number;
  tags: string | null;
  delete_after: number | null;
}

export interface TaskRow {
  task_key: string;
  service: string;
  command: string;
  input: string | null;
  run_id: string;
  workflow: string;
  seq: number;
  traceparent: string;
  status: TaskStatus;
  attempt: number;
  delivery_id: string | null;
  worker_id: string | null;
  lease_ms: number;
  lease_expires_at: number | null;
  max_attempts: number;
  timeout_ms: number | null;
  queue_timeout_ms: number | null;
  claimed_at: number | null;
  queue_expires_at: number | null;
  /** Every delivery's token, attempt 1 first, space-separated; never leaves the store. */
  delivery_tokens: string;
  visible_at: number;
  output: string | null;
  error: string | null;
  /** A boolean on PostgreSQL, 0 or 1 on SQLite. */
  retryable: boolean | number | null;
  created_at: number;
  updated_at: number;
  node_id: string | null;
}

export function toRunRecord(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    workflow: row.workflow,
    status: row.status,
    input: row.input,
    output: row.output,
    error: row.error === null ? null : (JSON.parse(row.error) as ErrorData),
    parentRunId: row.parent_run_id,
    parentSeq: row.parent_seq,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    wakeAt: row.wake_at,
    waitingOn: row.waiting_on === null ? null : (JSON.parse(row.waiting_on) as WaitingOn),
    journalLength: row.journal_length,
    epoch: row.epoch,
    owner: row.owner,
    version: row.version,
    // Present only when set, so rows of runs that use neither compare as before.
    ...(row.tags !== null ? { tags: JSON.parse(row.tags) as Record<string, string> } : {}),
    ...(row.delete_after !== null ? { deleteAfter: row.delete_after } : {}),
  };
}

export function toTaskRecord(row: TaskRow): TaskRecord {
  return {
    taskKey: row.task_key,
    service: row.service,
    command: row.command,
    input: row.input,
    runId: row.run_id,
    workflow: row.workflow,
    seq: row.seq,
    traceparent: row.traceparent,
    leaseMs: row.lease_ms,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    queueTimeoutMs: row.queue_timeout_ms,
    visibleAt: row.visible_at,
    createdAt: row.created_at,
    status: row.status,
    attempt: row.attempt,
    deliveryId: row.delivery_id,
    workerId: row.worker_id,
    claimedAt: row.claimed_at,
    leaseExpiresAt: row.lease_expires_at,
    output: row.output,
    error: row.error === null ? null : (JSON.parse(row.error) as ErrorData),
    retryable: row.retryable === null ? null : Boolean(row.retryable),
    updatedAt: row.updated_at,
    nodeId: row.node_id,
  };
}

/**
 * Which delivery of which task a delivery id names: `{taskKey}@{attempt}.{token}` ('@' never
 * occurs in run ids, so the last one ends the key). Undefined for anything else.
 */
export function parseDeliveryId(
  deliveryId: string,
): { taskKey: string; attempt: number; token: string } | undefined {
  const match = /^(.+)@([1-9]\d{0,9})\.([0-9a-f]{32})$/.exec(deliveryId);
  if (!match) return undefined;
  return { taskKey: match[1]!, attempt: Number(match[2]), token: match[3]! };
}

/**
 * Whether `deliveryId` is a delivery the store gave out for this task row: its current one, or
 * an earlier one whose token matches. A guessed or altered token names nothing.
 */
export function isDeliveryOf(row: TaskRow, deliveryId: string): boolean {
  // Exact match first: a delivery leased before tokens existed still answers for itself.
  if (row.delivery_id !== null && row.delivery_id === deliveryId) return true;
  const parsed = parseDeliveryId(deliveryId);
  if (!parsed || parsed.taskKey !== row.task_key || parsed.attempt > row.attempt) return false;
  return row.delivery_tokens.split(" ")[parsed.attempt - 1] === parsed.token;
}

/**
 * The task key a delivery id names, in the current form or the form used before delivery ids
 * carried a token (`{taskKey}@{attempt}`); the caller then checks it with isDeliveryOf.
 */
export function taskKeyOfDelivery(deliveryId: string): string | undefined {
  const at = deliveryId.lastIndexOf("@");
  if (at <= 0 || !/^\d+(\.[0-9a-f]{32})?$/.test(deliveryId.slice(at + 1))) return undefined;
  return deliveryId.slice(0, at);
}

/** When the current delivery must have replied by: its claim plus the timeout, if it has one. */
export function timeoutAt(row: TaskRow): number {
  return row.timeout_ms === null || row.claimed_at === null
    ? Infinity
    : row.claimed_at + row.timeout_ms;
}

/** Whether the task's current delivery may still reply or heartbeat at `now`. */
export function hasLiveLease(row: TaskRow, now: number): boolean {
  return (
    (row.status === "leased" || row.status === "withdrawing") &&
    (row.lease_expires_at ?? 0) > now &&
    timeoutAt(row) > now
  );
}
