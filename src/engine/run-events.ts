import { EventType, RunStatus, type ErrorData } from "../common/index.js";
import type { EventRecord, JournalEntry } from "../store/index.js";
import type { ExecutionHost } from "./host.js";
import { Entry, type OpEntryData } from "./journal.js";
import type { Snapshot, Terminal } from "./run-snapshot.js";

/**
 * The stored event of a run's end. It is committed with the run's terminal entry, so the store's
 * event stream (`readEvents`) has a run's end exactly when the end is durable.
 */
export function terminalEvent(
  runId: string,
  workflow: string,
  terminal: Terminal,
  at: number,
): EventRecord {
  const eventType =
    terminal.status === RunStatus.Completed
      ? EventType.RunCompleted
      : terminal.status === RunStatus.Cancelled
        ? EventType.RunCancelled
        : EventType.RunFailed;
  return {
    type: eventType,
    runId,
    workflow,
    status: terminal.status,
    data: JSON.stringify(terminal.error ? { error: terminal.error } : {}),
    at,
  };
}

/**
 * The stored event of a compensation that failed for good under policy `event`: an operator is
 * wanted. Committed with the decision, so the durable stream has it exactly when the run waits.
 */
export function compensationEvent(
  runId: string,
  workflow: string,
  at: number,
  failure: { seq: number; attempt: number; name: string; error: ErrorData },
): EventRecord {
  return {
    type: EventType.CompensationFailed,
    runId,
    workflow,
    status: RunStatus.Compensating,
    data: JSON.stringify(failure),
    at,
  };
}

/** run.updated: a commit changed the run's status or what it waits on. */
export function publishRunUpdated(
  host: ExecutionHost,
  runId: string,
  workflow: string,
  snapshot: Snapshot,
): void {
  host.emit({
    type: EventType.RunUpdated,
    runId,
    workflow,
    status: snapshot.status,
    at: new Date(host.clock.now()).toISOString(),
    ...(snapshot.waitingOn ? { data: { waitingOn: snapshot.waitingOn } } : {}),
  });
}

/** Live events for what just became durable: steps and calls, retries, compensation. */
export function publishCommitted(
  host: ExecutionHost,
  runId: string,
  workflow: string,
  status: RunStatus,
  entries: JournalEntry[],
): void {
  if (!host.hasListeners) return;
  for (const entry of entries) {
    const type = liveEventType(entry.type);
    if (!type) continue;
    const data =
      entry.data === null ? {} : (JSON.parse(entry.data) as OpEntryData & { error?: ErrorData });
    host.emit({
      type,
      runId,
      workflow,
      status,
      at: new Date(entry.at).toISOString(),
      data: {
        ...(entry.seq === null
          ? {}
          : { seq: entry.seq, kind: entry.type.slice(0, entry.type.indexOf(".")) }),
        ...(entry.name === null ? {} : { name: entry.name }),
        ...(data.startedAt !== undefined ? { durationMs: entry.at - data.startedAt } : {}),
        ...(data.attempts !== undefined ? { attempts: data.attempts } : {}),
        ...(data.attempt !== undefined ? { attempt: data.attempt } : {}),
        ...(data.error ? { error: data.error } : {}),
        ...(data.compensates !== undefined ? { compensates: data.compensates } : {}),
        ...(entry.type === Entry.CompensationFailed ? runLevelData(entry.data) : {}),
      },
    });
  }
}

function liveEventType(entryType: string): EventType | undefined {
  switch (entryType) {
    case "step.completed":
    case "call.completed":
      return EventType.StepCompleted;
    case "step.failed":
    case "call.failed":
      return EventType.StepFailed;
    case "step.attempt_failed":
    case "call.attempt_failed":
      return EventType.StepRetrying;
    case Entry.RunCompensating:
    case Entry.RunCancelling:
      return EventType.RunCompensating;
    case Entry.CompensationFailed:
      return EventType.CompensationFailed;
    default:
      return undefined;
  }
}

function runLevelData(data: string | null): Record<string, unknown> {
  return data === null ? {} : (JSON.parse(data) as Record<string, unknown>);
}
