import type { RunStatus } from "./runs.js";

/** How a schedule treats a tick while its previous run is still going. */
export type ScheduleOverlap = "skip" | "allow";
/** Which ticks missed during downtime fire once a node looks again. */
export type ScheduleCatchup = "none" | "latest" | "all";

export const SCHEDULE_OVERLAPS: readonly ScheduleOverlap[] = ["skip", "allow"];
export const SCHEDULE_CATCHUPS: readonly ScheduleCatchup[] = ["none", "latest", "all"];

/** A schedule as the API shows it (docs/schedules.md). Times are ISO 8601 UTC. */
export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  workflow: string;
  input?: unknown;
  overlap: ScheduleOverlap;
  catchup: ScheduleCatchup;
  /** Declared in code (`schedule()`, upserted at every start) or created through the API. */
  source: "code" | "api";
  paused: boolean;
  /** The next five ticks; empty while paused. */
  nextFireTimes: string[];
  lastTickAt?: string;
  lastRunId?: string;
  /** Ticks that started a run, and ticks skipped (overlap, or missed and not caught up). */
  firedCount: number;
  skippedCount: number;
  lastSkippedAt?: string;
  lastSkipReason?: string;
  /** The schedule's newest runs (ticks and manual triggers), newest first. */
  lastRuns: Array<{ runId: string; status: RunStatus; createdAt: string }>;
  createdAt: string;
  updatedAt: string;
}
