import {
  decodeJson,
  type ErrorData,
  type HistoryEvent,
  type OpKind,
  type Run,
  type StepView,
} from "../common/index.js";
import type { JournalEntry, RunRecord } from "../store/index.js";
import { splitEntryType, type OpEntryData } from "./journal.js";
import type { RunExecution } from "./run-execution.js";

/** What a read needs of a run in memory: its state now, and what executes. */
export type LiveRunView = Pick<RunExecution, "terminal" | "replaying" | "snapshot" | "liveOps">;

const HIDDEN_KINDS = new Set(["now", "random", "uuid", "patch"]);

/** A run as the API shows it; `journal` adds its steps, `live` what is executing right now. */
export function toRunView(
  record: RunRecord,
  journal?: readonly JournalEntry[],
  live?: LiveRunView,
): Run {
  const run: Run = {
    runId: record.runId,
    workflow: record.workflow,
    status: record.status,
    input: decodeJson(record.input) ?? null,
    createdAt: iso(record.createdAt),
    updatedAt: iso(record.updatedAt),
    steps: journal ? toSteps(journal, live) : [],
    version: record.version,
  };
  if (record.output !== null) run.output = decodeJson(record.output);
  if (record.error) run.error = record.error;
  if (record.waitingOn) run.waitingOn = record.waitingOn;
  if (record.parentRunId) run.parentRunId = record.parentRunId;
  if (record.tags) run.tags = record.tags;
  // Status and waitingOn from one source: the run in memory knows better than its last
  // written row, except while it replays (then the row is what it last said).
  if (live && !live.terminal && !live.replaying) {
    const now = live.snapshot();
    run.status = now.status;
    if (now.waitingOn) run.waitingOn = now.waitingOn;
    else delete run.waitingOn;
  }
  return run;
}

function toSteps(journal: readonly JournalEntry[], live?: LiveRunView): StepView[] {
  const steps = new Map<number, StepView>();
  for (const entry of journal) {
    if (entry.seq === null) continue;
    const { kind, event } = splitEntryType(entry.type);
    if (HIDDEN_KINDS.has(kind)) continue;
    const data = (entry.data === null ? {} : JSON.parse(entry.data)) as OpEntryData;
    let step = steps.get(entry.seq);
    if (!step) {
      step = {
        seq: entry.seq,
        kind: kind as OpKind,
        name: entry.name ?? kind,
        status: kind === "step" || kind === "call" ? "running" : "waiting",
        attempts: 0,
        startedAt: iso(data.startedAt ?? entry.at),
      };
      if (data.compensates !== undefined) step.compensates = data.compensates;
      steps.set(entry.seq, step);
    }
    switch (event) {
      case "attempt_failed":
        step.attempts = Math.max(step.attempts, data.attempt ?? step.attempts + 1);
        step.status = "waiting";
        if (data.error) step.error = data.error;
        break;
      case "completed":
      case "received":
        step.status = "completed";
        step.attempts = data.attempts ?? Math.max(step.attempts, 1);
        step.endedAt = iso(entry.at);
        if (data.output !== undefined) step.output = data.output;
        delete step.error;
        break;
      case "failed":
        step.status = "failed";
        step.attempts = data.attempts ?? Math.max(step.attempts, 1);
        step.endedAt = iso(entry.at);
        step.error = data.error as ErrorData;
        break;
      default:
        break;
    }
  }
  for (const op of live?.liveOps() ?? []) {
    if (HIDDEN_KINDS.has(op.kind)) continue;
    const step = steps.get(op.seq);
    if (step) {
      if (op.executing) {
        step.status = "running";
        step.attempts = Math.max(step.attempts, op.attempt);
      }
    } else if (op.executing) {
      steps.set(op.seq, {
        seq: op.seq,
        kind: op.kind,
        name: op.name,
        status: "running",
        attempts: op.attempt,
      });
    }
  }
  return [...steps.values()].sort((a, b) => a.seq - b.seq);
}

export function toHistory(journal: readonly JournalEntry[]): HistoryEvent[] {
  return journal.map((entry) => {
    const event: HistoryEvent = { position: entry.position, type: entry.type, at: iso(entry.at) };
    if (entry.seq !== null) event.seq = entry.seq;
    if (entry.name !== null) event.name = entry.name;
    if (entry.data !== null) event.data = JSON.parse(entry.data);
    return event;
  });
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
