import type { ScheduleCatchup, ScheduleOverlap } from "../../store/index.js";

/**
 * A tick reached more than this long after its time counts as missed (the ticker was down or
 * could not reach the database); a node that is merely a little late is on time.
 */
export const LATE_AFTER_MS = 5_000;
/** Catch-up `all` fires at most this many missed ticks, the newest; older ones are dropped. */
export const CATCHUP_BOUND = 100;

export const SkipReason = {
  /** Missed during downtime and not caught up by the schedule's `catchup` policy. */
  Missed: "missed",
  /** `overlap: "skip"` and the schedule's previous run was not terminal. */
  Overlap: "overlap",
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export interface TickSituation {
  now: number;
  /** The due ticks not yet decided, oldest first (at most CATCHUP_BOUND of them). */
  due: readonly number[];
  catchup: ScheduleCatchup;
  overlap: ScheduleOverlap;
  /** Whether the run of the schedule's last fired tick is not terminal yet. */
  previousRunActive: boolean;
}

export interface TickDecision {
  /** Ticks that start a run now, oldest first. */
  fire: number[];
  /** Ticks that start nothing, oldest first, each with why. */
  skipped: Array<{ tick: number; reason: SkipReason }>;
}

/**
 * Which due ticks fire — the one rule of a schedule, pure: the ticker reads the situation,
 * this decides, the ticker writes the decision with a compare-and-set and starts the runs.
 *
 * - catch-up `none`: only on-time ticks fire (due at most LATE_AFTER_MS ago), missed ones are skipped;
 * - `latest`: the newest due tick fires however late, the older ones are skipped;
 * - `all`: every due tick fires (the caller bounds them to CATCHUP_BOUND).
 * Then overlap `skip` lets at most one of those fire — the oldest, and none while the previous
 * run is still going; `allow` lets them all fire.
 */
export function decideTicks(situation: TickSituation): TickDecision {
  const { due } = situation;
  const candidates = candidatesOf(situation);
  const skipped: TickDecision["skipped"] = due
    .filter((tick) => !candidates.includes(tick))
    .map((tick) => ({ tick, reason: SkipReason.Missed }));
  let fire = candidates;
  if (situation.overlap === "skip") {
    fire = situation.previousRunActive ? [] : candidates.slice(0, 1);
    for (const tick of candidates) {
      if (!fire.includes(tick)) skipped.push({ tick, reason: SkipReason.Overlap });
    }
  }
  skipped.sort((a, b) => a.tick - b.tick);
  return { fire, skipped };
}

function candidatesOf({ now, due, catchup }: TickSituation): number[] {
  switch (catchup) {
    case "none":
      return due.filter((tick) => now - tick <= LATE_AFTER_MS);
    case "latest":
      return due.slice(-1);
    case "all":
      return [...due];
  }
}

/** The run id of a tick: `{schedule}:{tick as ISO 8601 UTC with ms}`, e.g. `nightly:2026-12-07T03:00:00.000Z`. */
export function tickRunId(schedule: string, tick: number): string {
  return `${schedule}:${new Date(tick).toISOString()}`;
}

/** The run id of a manual trigger: `{schedule}:manual:{ISO 8601 UTC with ms}`. */
export function manualRunId(schedule: string, at: number): string {
  return `${schedule}:manual:${new Date(at).toISOString()}`;
}
