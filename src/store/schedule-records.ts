import type { ScheduleCatchup, ScheduleOverlap } from "../common/index.js";

export type { ScheduleCatchup, ScheduleOverlap };

/** What a schedule is: declared in code (`source: "code"`) or created through the API. */
export interface ScheduleSpec {
  name: string;
  cron: string;
  /** An IANA time zone; "UTC" unless told otherwise. */
  timezone: string;
  workflow: string;
  /** The runs' input as JSON text, or null for none. */
  input: string | null;
  overlap: ScheduleOverlap;
  catchup: ScheduleCatchup;
  source: "code" | "api";
}

/** A schedule's row: its spec and where its ticking stands. */
export interface ScheduleRecord extends ScheduleSpec {
  paused: boolean;
  /** The next tick not yet decided; null when the cron expression has no tick left. */
  nextFireAt: number | null;
  /** The newest tick that started a run, and that run. */
  lastTickAt: number | null;
  lastRunId: string | null;
  /** Ticks decided to fire whose runs may not exist yet (the deciding node died), oldest first. */
  pendingTicks: number[];
  pendingSince: number | null;
  firedCount: number;
  skippedCount: number;
  lastSkippedAt: number | null;
  lastSkipReason: string | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * One node's decision on a schedule's due ticks, written only if `next_fire_at` is still
 * `expectedNextFireAt` (compare-and-set: one node decides each tick).
 */
export interface ScheduleAdvance {
  name: string;
  expectedNextFireAt: number;
  nextFireAt: number | null;
  /**
   * The row's pending ticks from now on: those read (not yet settled) and those fired now,
   * oldest first; `pendingSince` is this decision's time when it fires any, else as read.
   */
  pendingTicks: number[];
  pendingSince: number | null;
  /** The newest tick fired now and its run; null when none fires. */
  lastTickAt: number | null;
  lastRunId: string | null;
  fired: number;
  skipped: number;
  lastSkippedAt: number | null;
  lastSkipReason: string | null;
  now: number;
}

/** The parameters of `ScheduleSql.advance`, in order. */
export function advanceParams(a: ScheduleAdvance): unknown[] {
  return [
    a.name,
    a.expectedNextFireAt,
    a.nextFireAt,
    a.pendingTicks.length ? JSON.stringify(a.pendingTicks) : null,
    a.pendingTicks.length ? a.pendingSince : null,
    a.lastTickAt,
    a.lastRunId,
    a.fired,
    a.skipped,
    a.lastSkippedAt,
    a.lastSkipReason,
    a.now,
  ];
}

/** The parameters of `ScheduleSql.upsert`, in order. */
export function upsertParams(
  spec: ScheduleSpec,
  nextFireAt: number | null,
  now: number,
): unknown[] {
  return [
    spec.name,
    spec.cron,
    spec.timezone,
    spec.workflow,
    spec.input,
    spec.overlap,
    spec.catchup,
    spec.source,
    nextFireAt,
    now,
  ];
}

/** A row of `schedules` as both drivers return it (`paused`: 0/1 on SQLite, boolean on PostgreSQL). */
export interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  workflow: string;
  input: string | null;
  overlap: ScheduleOverlap;
  catchup: ScheduleCatchup;
  source: "code" | "api";
  paused: boolean | number;
  next_fire_at: number | null;
  last_tick_at: number | null;
  last_run_id: string | null;
  pending_ticks: string | null;
  pending_since: number | null;
  fired_count: number;
  skipped_count: number;
  last_skipped_at: number | null;
  last_skip_reason: string | null;
  created_at: number;
  updated_at: number;
}

export function toScheduleRecord(row: ScheduleRow): ScheduleRecord {
  return {
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    workflow: row.workflow,
    input: row.input,
    overlap: row.overlap,
    catchup: row.catchup,
    source: row.source,
    paused: Boolean(row.paused),
    nextFireAt: row.next_fire_at,
    lastTickAt: row.last_tick_at,
    lastRunId: row.last_run_id,
    pendingTicks: row.pending_ticks === null ? [] : (JSON.parse(row.pending_ticks) as number[]),
    pendingSince: row.pending_since,
    firedCount: row.fired_count,
    skippedCount: row.skipped_count,
    lastSkippedAt: row.last_skipped_at,
    lastSkipReason: row.last_skip_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * The statements both stores run, written once with numbered parameters ($1…); SQLite reads
 * `$1` as a named parameter too, so the same text serves both.
 */
export const ScheduleSql = {
  /**
   * Code or the API (re)declares a schedule: the spec is replaced, the paused state kept; the next
   * tick is recomputed only when the timing (cron, time zone) changed.
   */
  upsert: `INSERT INTO schedules (name, cron, timezone, workflow, input, overlap, catchup, source,
             next_fire_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
           ON CONFLICT (name) DO UPDATE SET
             next_fire_at = CASE WHEN schedules.cron = excluded.cron AND schedules.timezone = excluded.timezone
                                 THEN schedules.next_fire_at ELSE excluded.next_fire_at END,
             cron = excluded.cron, timezone = excluded.timezone, workflow = excluded.workflow,
             input = excluded.input, overlap = excluded.overlap, catchup = excluded.catchup,
             source = excluded.source, updated_at = excluded.updated_at`,
  find: "SELECT * FROM schedules WHERE name = $1",
  list: "SELECT * FROM schedules ORDER BY name",
  /** The compare-and-set of one decision; a paused schedule decides nothing. */
  advance: `UPDATE schedules SET next_fire_at = $3, pending_ticks = $4, pending_since = $5,
              last_tick_at = COALESCE($6, last_tick_at), last_run_id = COALESCE($7, last_run_id),
              fired_count = fired_count + $8, skipped_count = skipped_count + $9,
              last_skipped_at = COALESCE($10, last_skipped_at),
              last_skip_reason = COALESCE($11, last_skip_reason), updated_at = $12
            WHERE name = $1 AND next_fire_at = $2 AND NOT paused`,
  /** Ticks whose runs now exist; only the decision that set them (same `pending_since`) clears. */
  settle: `UPDATE schedules SET pending_ticks = NULL, pending_since = NULL
           WHERE name = $1 AND pending_since = $2`,
  pause: "UPDATE schedules SET paused = true, updated_at = $2 WHERE name = $1",
  /** Ticks that fell while paused are not fired: the schedule goes on from its next tick after now. */
  resume: "UPDATE schedules SET paused = false, next_fire_at = $2, updated_at = $3 WHERE name = $1",
  delete: "DELETE FROM schedules WHERE name = $1",
} as const;
