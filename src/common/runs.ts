import type { ErrorData } from "./errors.js";

/** A run's status: the same strings on the wire, in SQL and in the UI. */
export const RunStatus = {
  Pending: "pending",
  Running: "running",
  Waiting: "waiting",
  Compensating: "compensating",
  Completed: "completed",
  Compensated: "compensated",
  Failed: "failed",
  Cancelled: "cancelled",
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

export const RUN_STATUSES: readonly RunStatus[] = Object.values(RunStatus);
export const TERMINAL_STATUSES: readonly RunStatus[] = [
  RunStatus.Completed,
  RunStatus.Compensated,
  RunStatus.Failed,
  RunStatus.Cancelled,
];

export function isTerminal(status: RunStatus): boolean {
  return (
    status === RunStatus.Completed ||
    status === RunStatus.Compensated ||
    status === RunStatus.Failed ||
    status === RunStatus.Cancelled
  );
}

export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === "string" && (RUN_STATUSES as readonly string[]).includes(value);
}

/** What a run that is not terminal waits on, in words an operator can act on. */
export interface WaitingOn {
  kind:
    "timer" | "signal" | "task" | "retry" | "child" | "lease" | "operator" | "event" | "version";
  reason: string;
  seq?: number;
  /** timer: when it fires; signal: when the wait times out; retry: the next attempt. */
  until?: string;
  signal?: string;
  /** event: the topic waited for, and the top-level data fields the event must equal. */
  topic?: string;
  where?: Record<string, unknown>;
  childRunId?: string;
  step?: string;
  attempt?: number;
  lastError?: ErrorData;
  service?: string;
  queueDepth?: number;
  workers?: number;
  /** retry (of a compensation) and operator: the seq of the operation whose compensation failed. */
  compensates?: number;
  /** version: the workflow version no node at hand has. */
  version?: number;
}

export type OpKind =
  | "step"
  | "call"
  | "sleep"
  | "signal"
  | "child"
  | "now"
  | "random"
  | "uuid"
  | "emit"
  | "event"
  | "patch";

/** One operation of a run as operators see it (the Run's `steps`). */
export interface StepView {
  seq: number;
  kind: OpKind;
  name: string;
  status: "running" | "waiting" | "completed" | "failed";
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  output?: unknown;
  error?: ErrorData;
  /** Set on operations that ran inside a compensation: the seq they compensate. */
  compensates?: number;
}

/** A run as the API, the client and the engine return it (docs/http-api.md). */
export interface Run {
  runId: string;
  workflow: string;
  status: RunStatus;
  input: unknown;
  output?: unknown;
  error?: ErrorData;
  createdAt: string;
  updatedAt: string;
  steps: StepView[];
  waitingOn?: WaitingOn;
  parentRunId?: string;
  /** The workflow version the run executes (docs/versions.md). */
  version: number;
  /** The tags given on start, if any. */
  tags?: Record<string, string>;
}

/** One journal entry as the history API shows it, oldest first. */
export interface HistoryEvent {
  position: number;
  type: string;
  seq?: number;
  name?: string;
  at: string;
  data?: unknown;
}
