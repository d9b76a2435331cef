import type { EventRecord, JournalEntry, NewRun, NewTask, WriteOp } from "../store.js";
import {
  APPENDS,
  CONSUMED,
  ENTRIES,
  EVENTS,
  NEW_RUNS,
  REQUEUES,
  SIGNALS,
  TASKS,
  WAKES,
  WITHDRAWALS,
} from "./postgres-commit-sql.js";
import type { RowOf } from "./postgres-unnest.js";

type AppendRun = Extract<WriteOp, { type: "appendRun" }>;

/**
 * One write of a batch, in the order SQLite applies them: an op's fenced update with its
 * entries and consumed signals, then its child runs, wake-ups, tasks and events. `gate` is the
 * op whose append must succeed for the part to apply (-1: none).
 */
export type Part =
  | { kind: "append"; op: number; append: AppendRun }
  | { kind: "newRun"; gate: number; run: NewRun; createOp?: number }
  | { kind: "wake"; gate: number; runId: string; at: number }
  | {
      kind: "signal";
      op: number;
      runId: string;
      name: string;
      payload: string | null;
      sentAt: number;
    }
  | { kind: "enqueue"; gate: number; task: NewTask }
  | { kind: "requeue"; gate: number; taskKey: string; visibleAt: number }
  | { kind: "withdraw"; gate: number; taskKey: string; now: number }
  | { kind: "event"; gate: number; event: EventRecord };

/**
 * Consecutive parts of a batch that touch disjoint rows, so applying them all in one statement
 * gives what applying them one by one would. A run is touched exclusively by an append or a
 * creation, and shared by wake-ups (which commute: the earliest wins); a task and a consumed
 * signal are touched exclusively. Event and signal ids follow the order of the parts.
 */
export class Segment {
  readonly parts: Part[] = [];
  private readonly runs = new Set<string>();
  private readonly wakes = new Set<string>();
  private readonly tasks = new Set<string>();
  private readonly signals = new Set<number>();

  /** Adds the part unless it touches a row an earlier part of this segment touches. */
  tryAdd(part: Part): boolean {
    const keys = keysOf(part);
    if (
      keys.runs.some((id) => this.runs.has(id) || this.wakes.has(id)) ||
      keys.wakes.some((id) => this.runs.has(id)) ||
      keys.tasks.some((key) => this.tasks.has(key)) ||
      keys.signals.some((id) => this.signals.has(id))
    ) {
      return false;
    }
    for (const id of keys.runs) this.runs.add(id);
    for (const id of keys.wakes) this.wakes.add(id);
    for (const key of keys.tasks) this.tasks.add(key);
    for (const id of keys.signals) this.signals.add(id);
    this.parts.push(part);
    return true;
  }
}

interface Keys {
  runs: string[];
  wakes: string[];
  tasks: string[];
  signals: number[];
}

function keysOf(part: Part): Keys {
  const keys: Keys = { runs: [], wakes: [], tasks: [], signals: [] };
  switch (part.kind) {
    case "append":
      keys.runs.push(part.append.runId);
      for (const { signalId } of part.append.consumedSignals ?? []) keys.signals.push(signalId);
      break;
    case "newRun":
      keys.runs.push(part.run.runId);
      break;
    case "wake":
    case "signal":
      keys.wakes.push(part.runId);
      break;
    case "enqueue":
      keys.tasks.push(part.task.taskKey);
      break;
    case "requeue":
    case "withdraw":
      keys.tasks.push(part.taskKey);
      break;
    case "event":
      break;
  }
  return keys;
}

/** The parts of a batch, in application order. */
export function partsOf(ops: readonly WriteOp[]): Part[] {
  const parts: Part[] = [];
  ops.forEach((op, index) => {
    switch (op.type) {
      case "createRun":
        parts.push({ kind: "newRun", gate: -1, run: op.run, createOp: index });
        break;
      case "insertSignal":
        parts.push({
          kind: "signal",
          op: index,
          runId: op.runId,
          name: op.name,
          payload: op.payload,
          sentAt: op.sentAt,
        });
        break;
      case "appendRun": {
        const at = op.update.updatedAt;
        parts.push({ kind: "append", op: index, append: op });
        for (const run of op.createRuns ?? []) parts.push({ kind: "newRun", gate: index, run });
        for (const runId of op.wakeRuns ?? []) parts.push({ kind: "wake", gate: index, runId, at });
        for (const task of op.enqueueTasks ?? [])
          parts.push({ kind: "enqueue", gate: index, task });
        for (const { taskKey, visibleAt } of op.requeueTasks ?? []) {
          parts.push({ kind: "requeue", gate: index, taskKey, visibleAt });
        }
        for (const taskKey of op.withdrawTasks ?? []) {
          parts.push({ kind: "withdraw", gate: index, taskKey, now: at });
        }
        for (const event of op.events ?? []) parts.push({ kind: "event", gate: index, event });
        break;
      }
    }
  });
  return parts;
}

/**
 * Cuts the parts into segments where applying a segment as one statement equals applying its
 * parts in order. The engine writes each run at most once per batch, so a batch is usually one
 * segment; a run touched twice (a signal to a run appended in the same batch, a run id created
 * twice) starts the next segment there.
 */
export function planSegments(ops: readonly WriteOp[]): Segment[] {
  const segments: Segment[] = [];
  let current = new Segment();
  for (const part of partsOf(ops)) {
    if (current.tryAdd(part)) continue;
    segments.push(current);
    current = new Segment();
    current.tryAdd(part);
  }
  if (current.parts.length > 0) segments.push(current);
  return segments;
}

/** The parameters of the segment statement, and what to read back. */
export interface SegmentParams {
  values: unknown[];
  /** Ops whose fenced append this statement tries. */
  appendOps: number[];
  /** createRun ops of this segment by run id (ids are distinct within a segment). */
  createOps: Map<string, number>;
}

/**
 * Fills the statement's arrays. `settled` holds the appends decided by earlier segments: parts
 * gated on an append that failed are dropped, and on one that succeeded apply unconditionally.
 */
export function segmentParams(
  segment: Segment,
  settled: ReadonlyMap<number, boolean>,
): SegmentParams {
  const appends: Array<RowOf<typeof APPENDS>> = [];
  const newRuns: Array<RowOf<typeof NEW_RUNS>> = [];
  const entries: Array<RowOf<typeof ENTRIES>> = [];
  const consumed: Array<RowOf<typeof CONSUMED>> = [];
  const signals: Array<RowOf<typeof SIGNALS>> = [];
  const wakes: Array<RowOf<typeof WAKES>> = [];
  const tasks: Array<RowOf<typeof TASKS>> = [];
  const requeues: Array<RowOf<typeof REQUEUES>> = [];
  const withdrawals: Array<RowOf<typeof WITHDRAWALS>> = [];
  const events: Array<RowOf<typeof EVENTS>> = [];
  const appendOps: number[] = [];
  const createOps = new Map<string, number>();

  for (const part of segment.parts) {
    const gate = "gate" in part ? resolveGate(part.gate, settled) : -1;
    if (gate === undefined) continue;
    switch (part.kind) {
      case "append": {
        const { op, append } = part;
        const { update } = append;
        appendOps.push(op);
        appends.push({
          op,
          run_id: append.runId,
          epoch: append.epoch,
          expected_length: append.expectedLength,
          new_length: append.expectedLength + append.entries.length,
          status: update.status,
          updated_at: update.updatedAt,
          wake_at: update.wakeAt,
          waiting_on: update.waitingOn === null ? null : JSON.stringify(update.waitingOn),
          set_output: update.output !== undefined,
          output: update.output ?? null,
          set_error: update.error !== undefined,
          error: update.error ? JSON.stringify(update.error) : null,
          delete_after: update.deleteAfter ?? null,
        });
        for (const entry of append.entries) entries.push(entryRow(op, false, append.runId, entry));
        // A signal consumed twice by one op: the first consumption wins, as applied one by one.
        const seen = new Set<number>();
        for (const { signalId, seq } of append.consumedSignals ?? []) {
          if (seen.has(signalId)) continue;
          seen.add(signalId);
          consumed.push({ gate: op, signal_id: signalId, seq });
        }
        break;
      }
      case "newRun": {
        const { run } = part;
        if (part.createOp !== undefined) createOps.set(run.runId, part.createOp);
        newRuns.push({
          gate,
          run_id: run.runId,
          workflow: run.workflow,
          input: run.input,
          parent_run_id: run.parentRunId,
          parent_seq: run.parentSeq,
          created_at: run.createdAt,
          owner: run.owner ?? null,
          version: run.version ?? 1,
          tags: run.tags && Object.keys(run.tags).length ? JSON.stringify(run.tags) : null,
        });
        entries.push(entryRow(gate, true, run.runId, run.firstEntry));
        break;
      }
      case "wake":
        wakes.push({ gate, run_id: part.runId, at: part.at });
        break;
      case "signal":
        signals.push({
          op: part.op,
          run_id: part.runId,
          name: part.name,
          payload: part.payload,
          sent_at: part.sentAt,
        });
        wakes.push({ gate: -1, run_id: part.runId, at: part.sentAt });
        break;
      case "enqueue": {
        const { task } = part;
        tasks.push({
          gate,
          task_key: task.taskKey,
          service: task.service,
          command: task.command,
          input: task.input,
          run_id: task.runId,
          workflow: task.workflow,
          seq: task.seq,
          traceparent: task.traceparent,
          lease_ms: task.leaseMs,
          max_attempts: task.maxAttempts,
          timeout_ms: task.timeoutMs,
          queue_timeout_ms: task.queueTimeoutMs,
          visible_at: task.visibleAt,
          created_at: task.createdAt,
        });
        break;
      }
      case "requeue":
        requeues.push({ gate, task_key: part.taskKey, visible_at: part.visibleAt });
        break;
      case "withdraw":
        withdrawals.push({ gate, task_key: part.taskKey, now: part.now });
        break;
      case "event": {
        const { event } = part;
        events.push({
          gate,
          type: event.type,
          event_key: event.eventId ?? null,
          run_id: event.runId,
          workflow: event.workflow,
          status: event.status,
          data: event.data,
          at: event.at,
        });
        break;
      }
    }
  }

  return {
    values: [
      ...APPENDS.params(appends),
      ...NEW_RUNS.params(newRuns),
      ...ENTRIES.params(entries),
      ...CONSUMED.params(consumed),
      ...SIGNALS.params(signals),
      ...WAKES.params(wakes),
      ...TASKS.params(tasks),
      ...REQUEUES.params(requeues),
      ...WITHDRAWALS.params(withdrawals),
      ...EVENTS.params(events),
    ],
    appendOps,
    createOps,
  };
}

/** -1 to apply regardless, the op to gate on in this statement, or undefined to drop the part. */
function resolveGate(gate: number, settled: ReadonlyMap<number, boolean>): number | undefined {
  if (gate < 0) return -1;
  const outcome = settled.get(gate);
  if (outcome === undefined) return gate;
  return outcome ? -1 : undefined;
}

function entryRow(
  gate: number,
  isFirst: boolean,
  runId: string,
  entry: JournalEntry,
): RowOf<typeof ENTRIES> {
  return {
    gate,
    is_first: isFirst,
    run_id: runId,
    position: entry.position,
    seq: entry.seq,
    type: entry.type,
    name: entry.name,
    data: entry.data,
    at: entry.at,
  };
}
