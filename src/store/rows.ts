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
  visible_at: number;
  output: string | null;
  error: string | null;
  /** A boolean on PostgreSQL, 0 or 1 on SQLite. */
  retryable: boolean | number | null;
  created_at: number;
  updated_at: number;
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
    visibleAt: row.visible_at,
    createdAt: row.created_at,
    status: row.status,
    attempt: row.attempt,
    deliveryId: row.delivery_id,
    workerId: row.worker_id,
    leaseExpiresAt: row.lease_expires_at,
    output: row.output,
    error: row.error === null ? null : (JSON.parse(row.error) as ErrorData),
    retryable: row.retryable === null ? null : Boolean(row.retryable),
    updatedAt: row.updated_at,
  };
}
