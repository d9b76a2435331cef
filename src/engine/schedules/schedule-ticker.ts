import {
  isTerminal,
  toBatonError,
  type Clock,
  type Logger,
  type RunStatus,
  type TimerHandle,
} from "../../common/index.js";
import type { ScheduleRecord, Store } from "../../store/index.js";
import { CronSchedule } from "./cron.js";
import { CATCHUP_BOUND, decideTicks, tickRunId, type SkipReason } from "./tick-decision.js";

/**
 * How often a node looks at the schedules even when no tick is due: to see schedules that other
 * nodes created, changed, paused or resumed (they tell only their own ticker).
 */
export const LOOK_MS = 5_000;
/** Pending ticks this old are taken as left by a node that died while starting their runs. */
export const PENDING_STALE_MS = 5_000;
const PERMANENT_START_FAILURES = new Set([
  "INPUT_INVALID",
  "INPUT_NOT_JSON",
  "RUN_ID_IN_USE",
  "WORKFLOW_NOT_FOUND",
]);
/** After losing a compare-and-set to another node: read the schedule again this soon. */
const LOST_RACE_RECHECK_MS = 100;

/** What the ticker needs from the engine. */
export interface TickerHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly store: Store;
  /** Whether this node has the workflow: a node without it leaves the schedule to nodes with it. */
  hasWorkflow(name: string): boolean;
  /** Starts the run, or finds it started (idempotent by run id). */
  startRun(workflow: string, input: unknown, runId: string): Promise<void>;
  runStatus(runId: string): Promise<RunStatus | undefined>;
  /** A decision was written by this node. */
  onTicks(
    schedule: string,
    fired: number,
    skipped: Array<{ tick: number; reason: SkipReason }>,
  ): void;
}

/**
 * Fires schedules' ticks. One clock timer, armed for the earliest next tick (or the next look,
 * LOOK_MS), like the wake scheduler; each pass reads every schedule and decides the due ones.
 *
 * Exactly once per tick across restarts and nodes: a tick's run id is derived from the tick, and
 * creating an existing run finds it. The decision is written first, with a compare-and-set on
 * `next_fire_at`, so of several nodes one decides and starts the tick's runs; the ticks it
 * decided stay in the row as pending until their runs exist, and should it die in between, any
 * node starts them (again, harmlessly) once they are stale.
 */
export class ScheduleTicker {
  private timer: TimerHandle | undefined;
  private passing: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly host: TickerHost) {}

  /** Looks at the schedules now (a schedule changed on this node, or the engine started). */
  wake(): void {
    if (this.stopped) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.timer?.cancel();
    this.timer = undefined;
    this.passing = this.pass()
      .catch((e: unknown) => {
        this.host.logger.warn({ err: e }, "could not look at the schedules; trying again soon");
        return this.host.clock.now() + LOOK_MS;
      })
      .then((next) => {
        this.passing = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.wake();
          return;
        }
        const { clock } = this.host;
        this.timer = clock.setTimer(next - clock.now(), () => {
          this.timer = undefined;
          this.wake();
        });
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.passing;
  }

  /** One look at every schedule; answers when to look next. */
  private async pass(): Promise<number> {
    const now = this.host.clock.now();
    let next = now + LOOK_MS;
    for (const schedule of await this.host.store.listSchedules()) {
      if (this.stopped) break;
      try {
        const wanted = await this.tick(schedule, now);
        if (wanted !== undefined) next = Math.min(next, wanted);
      } catch (e) {
        this.host.logger.warn(
          { err: e, schedule: schedule.name },
          `schedule ${schedule.name}: could not fire its ticks; trying again soon`,
        );
        next = Math.min(next, now + 1_000);
      }
    }
    return next;
  }

  /** Decides the schedule's due ticks, if any; answers when it wants to be looked at again. */
  private async tick(row: ScheduleRecord, now: number): Promise<number | undefined> {
    if (row.paused || !this.host.hasWorkflow(row.workflow)) return undefined;
    const cron = CronSchedule.parse(row.cron, row.timezone, now);
    let pending = row.pendingTicks;
    if (pending.length && row.pendingSince !== null) {
      if (now - row.pendingSince < PENDING_STALE_MS) {
        // Another node decided them a moment ago and is starting their runs: look again later.
        if (row.nextFireAt === null || row.nextFireAt > now)
          return Math.min(row.nextFireAt ?? Infinity, row.pendingSince + PENDING_STALE_MS);
      } else {
        await this.startRuns(row, pending);
        await this.host.store.settleScheduleTicks(row.name, row.pendingSince);
        pending = [];
      }
    }
    if (row.nextFireAt === null) return undefined;
    if (row.nextFireAt > now) return row.nextFireAt;

    const { ticks } = cron.due(row.nextFireAt, now, CATCHUP_BOUND);
    const decision = decideTicks({
      now,
      due: ticks,
      catchup: row.catchup,
      overlap: row.overlap,
      previousRunActive: row.overlap === "skip" && (await this.isActive(row)),
    });
    const lastFired = decision.fire.at(-1);
    const lastSkipped = decision.skipped.at(-1);
    const pendingTicks = [...new Set([...pending, ...decision.fire])].sort((a, b) => a - b);
    const nextFireAt = cron.nextAfter(now);
    const won = await this.host.store.advanceSchedule({
      name: row.name,
      expectedNextFireAt: row.nextFireAt,
      nextFireAt,
      pendingTicks,
      pendingSince: decision.fire.length ? now : row.pendingSince,
      lastTickAt: lastFired ?? null,
      lastRunId: lastFired === undefined ? null : tickRunId(row.name, lastFired),
      fired: decision.fire.length,
      skipped: decision.skipped.length,
      lastSkippedAt: lastSkipped?.tick ?? null,
      lastSkipReason: lastSkipped?.reason ?? null,
      now,
    });
    if (!won) return now + LOST_RACE_RECHECK_MS;
    // Committed: these ticks are decided. A crash from here on leaves them pending (see above).
    this.host.onTicks(row.name, decision.fire.length, decision.skipped);
    if (decision.fire.length) {
      await this.startRuns(row, pendingTicks);
      await this.host.store.settleScheduleTicks(row.name, now);
    }
    return nextFireAt ?? undefined;
  }

  /** Whether the run of the last fired tick is still going (a run about to be created counts). */
  private async isActive(row: ScheduleRecord): Promise<boolean> {
    if (row.lastRunId === null) return false;
    const status = await this.host.runStatus(row.lastRunId);
    if (status === undefined)
      return row.lastTickAt !== null && row.pendingTicks.includes(row.lastTickAt);
    return !isTerminal(status);
  }

  private async startRuns(row: ScheduleRecord, ticks: readonly number[]): Promise<void> {
    const input: unknown = row.input === null ? undefined : JSON.parse(row.input);
    for (const tick of ticks) {
      const runId = tickRunId(row.name, tick);
      try {
        await this.host.startRun(row.workflow, input, runId);
      } catch (e) {
        const error = toBatonError(e);
        // A start that would fail every time (the input no longer fits the workflow's schema,
        // the run id is another workflow's) is logged and dropped; anything else (a store
        // fault, the engine closing) leaves the ticks pending, to be started again later.
        if (!PERMANENT_START_FAILURES.has(error.code)) throw error;
        this.host.logger.error(
          { err: error, schedule: row.name, runId },
          `schedule ${row.name}: tick ${new Date(tick).toISOString()} could not start run ${runId}: ${error.code} ${error.message}`,
        );
      }
    }
  }
}
