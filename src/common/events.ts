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
];

/**
 * An event as streams, hooks and the client see it: one of Baton's own (lifecycle: `type` is an
 * EventType, always about a run) or a user's (`type` is the topic it was published to, `eventId`
 * the id it was published with, `runId` / `workflow` the run that emitted it, if one did).
 */
export interface BatonEvent {
  /** Position in the durable event log; absent on events only published live. */
  id?: number;
  /** The topic: an EventType for Baton's own events, the user's topic otherwise. */
  type: EventType | (string & {});
  /** User events: the id published with (idempotency key); Baton's durable ones: `~{id}`. */
  eventId?: string;
  /** Whether a user published it (ctx.emit, publish, POST /v1/events). */
  user?: boolean;
  runId?: string;
  workflow?: string;
  status?: RunStatus;
  at: string;
  data?: unknown;
}

/** A lifecycle event: always about a run. */
export type RunEvent = BatonEvent & {
  type: EventType;
  runId: string;
  workflow: string;
  status: RunStatus;
};

/** Whether an event is one of Baton's own, about a run (not a user's). */
export function isRunEvent(event: BatonEvent): event is RunEvent {
  return event.user !== true && event.runId !== undefined;
}
