import type { RunStatus } from "./runs.js";

/**
 * Facts Baton publishes about runs, for choreographed consumers beside the orchestration.
 * Dotted names; every terminal failure publishes `run.failed`.
 */
export const EventType = {
  RunStarted: "run.started",
  StepCompleted: "step.completed",
  StepFailed: "step.failed",
  /** An attempt failed and another will follow. */
  StepRetrying: "step.retrying",
  RunCompensating: "run.compensating",
  RunCompleted: "run.completed",
  RunFailed: "run.failed",
  RunCancelled: "run.cancelled",
  RunRetried: "run.retried",
  /** ctx.continueAsNew: a generation ended and the next started (the run goes on). */
  RunContinued: "run.continued",
  /** A compensation failed for good (every policy); under policy `event` also stored durably. */
  CompensationFailed: "compensation.failed",
  /** The run's status or what it waits on changed (published live, for streams and dashboards). */
  RunUpdated: "run.updated",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** Terminal events are written durably with the run's final state (an outbox). */
export const DURABLE_EVENT_TYPES: readonly EventType[] = [
  EventType.RunCompleted,
  EventType.RunFailed,
  EventType.RunCancelled,
  EventType.CompensationFailed,
  EventType.RunContinued,
];

export interface BatonEvent {
  /** Position in the durable event log; absent on events only published live. */
  id?: number;
  type: EventType;
  runId: string;
  workflow: string;
  status: RunStatus;
  at: string;
  data?: unknown;
}
