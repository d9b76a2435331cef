import { Cron } from "croner";
import { ValidationError } from "../../common/index.js";

/**
 * A cron expression in a time zone, read by croner (5 fields, or 6 with seconds first; `@daily`
 * and friends; days of month and of week OR-ed as in Vixie cron). Times are wall-clock times of
 * the zone, so DST is the zone's: a time that does not exist on a spring-forward day fires at the
 * first instant after the gap, a time that occurs twice on a fall-back day fires once (the first).
 */
export class CronSchedule {
  private constructor(
    readonly cron: string,
    readonly timezone: string,
    private readonly pattern: Cron,
  ) {}

  /** Refuses a malformed expression (INVALID_CRON), an unknown zone (INVALID_TIMEZONE), or an expression that never fires. */
  static parse(cron: unknown, timezone: unknown = "UTC", now = Date.now()): CronSchedule {
    if (typeof timezone !== "string" || !isTimeZone(timezone)) {
      throw new ValidationError(
        "INVALID_TIMEZONE",
        `time zone ${JSON.stringify(timezone)} is not an IANA time zone (e.g. "Europe/Berlin", "UTC")`,
        { timezone },
      );
    }
    if (typeof cron !== "string" || cron.trim() === "" || cron.length > 200) {
      throw new ValidationError(
        "INVALID_CRON",
        `cron expression ${JSON.stringify(cron)} is empty or too long`,
        {
          cron,
        },
      );
    }
    let pattern: Cron;
    try {
      pattern = new Cron(cron, { timezone, paused: true });
    } catch (e) {
      throw new ValidationError(
        "INVALID_CRON",
        `cron expression ${JSON.stringify(cron)} is invalid: ${e instanceof Error ? e.message : String(e)}`,
        { cron },
      );
    }
    const schedule = new CronSchedule(cron, timezone, pattern);
    if (schedule.nextAfter(now) === null) {
      throw new ValidationError(
        "INVALID_CRON",
        `cron expression ${JSON.stringify(cron)} never fires`,
        {
          cron,
        },
      );
    }
    return schedule;
  }

  /** The first tick strictly after `at`, or null if none is left. */
  nextAfter(at: number): number | null {
    return this.pattern.nextRun(new Date(at))?.getTime() ?? null;
  }

  /** The next `count` ticks strictly after `at`. */
  next(count: number, at: number): number[] {
    return this.pattern.nextRuns(count, new Date(at)).map((d) => d.getTime());
  }

  /**
   * The ticks in [from, now], oldest first, at most the newest `limit` of them; `truncated` when
   * older ones were left out.
   */
  due(from: number, now: number, limit: number): { ticks: number[]; truncated: boolean } {
    if (from > now) return { ticks: [], truncated: false };
    const newest = this.pattern
      .previousRuns(limit + 1, new Date(now + 1))
      .map((d) => d.getTime())
      .filter((t) => t >= from);
    const truncated = newest.length > limit;
    return { ticks: newest.slice(0, limit).reverse(), truncated };
  }
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}
