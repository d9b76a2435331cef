import { NotFoundError, ValidationError, type Schedule } from "../../common/index.js";
import type { ScheduleRecord } from "../../store/index.js";
import { CronSchedule } from "./cron.js";
import type { WorkflowDefinition } from "../context.js";
import { validateInput } from "../validate-input.js";
import type { ScheduleDefinition, ScheduleOptions } from "./schedule-spec.js";
import { toScheduleSpec } from "./schedule-spec.js";
import { ScheduleTicker, type TickerHost } from "./schedule-ticker.js";
import { manualRunId, type SkipReason } from "./tick-decision.js";

/** How many next fire times and last runs a schedule's view lists. */
const NEXT_FIRE_TIMES = 5;
const LAST_RUNS = 5;

/** What the schedules need from the engine: its clock, logger and store, its workflows and runs. */
export type SchedulesHost = Omit<TickerHost, "onTicks"> & {
  findWorkflow(name: string): WorkflowDefinition | undefined;
};

/** Ticks this node fired and skipped since it started, per schedule (the metrics). */
export interface TickCounts {
  schedule: string;
  fired: number;
  skipped: Record<SkipReason, number>;
}

/**
 * The engine's schedules: those declared in code, upserted at start, and those created through
 * the API; reads, operator actions (pause, resume, trigger, delete) and the ticker that fires them.
 */
export class Schedules {
  private readonly ticker: ScheduleTicker;
  private readonly counts = new Map<string, TickCounts>();

  constructor(
    private readonly host: SchedulesHost,
    private readonly declared: readonly ScheduleDefinition[],
  ) {
    this.ticker = new ScheduleTicker({
      clock: host.clock,
      logger: host.logger,
      store: host.store,
      hasWorkflow: (name) => host.hasWorkflow(name),
      startRun: (workflow, input, runId) => host.startRun(workflow, input, runId),
      runStatus: (runId) => host.runStatus(runId),
      onTicks: (schedule, fired, skipped) => {
        const counts = this.countsOf(schedule);
        counts.fired += fired;
        for (const { reason } of skipped) counts.skipped[reason]++;
      },
    });
  }

  /**
   * Upserts the schedules declared in code (code wins for the spec; the paused state and the
   * ticking are kept), then starts ticking.
   */
  async start(): Promise<void> {
    const now = this.host.clock.now();
    for (const definition of this.declared) {
      const { spec, cron } = toScheduleSpec(definition.name, definition.options, "code", now);
      await this.host.store.upsertSchedule(spec, cron.nextAfter(now), now);
    }
    this.ticker.wake();
  }

  stop(): Promise<void> {
    return this.ticker.stop();
  }

  /** Creates a schedule, or replaces the spec of the one of that name (paused state kept). */
  async save(
    name: unknown,
    options: ScheduleOptions,
  ): Promise<{ created: boolean; schedule: Schedule }> {
    const now = this.host.clock.now();
    const { spec, cron } = toScheduleSpec(name, options, "api", now);
    // The input must pass the workflow's schema now, not fail at every tick.
    validateInput(this.getWorkflow(spec.name, spec.workflow), options.input);
    const saved = await this.host.store.upsertSchedule(spec, cron.nextAfter(now), now);
    this.ticker.wake();
    return { created: saved.created, schedule: await this.view(saved.schedule) };
  }

  async list(): Promise<Schedule[]> {
    return Promise.all((await this.host.store.listSchedules()).map((row) => this.view(row)));
  }

  async get(name: string): Promise<Schedule> {
    return this.view(await this.getRecord(name));
  }

  async pause(name: string): Promise<Schedule> {
    const now = this.host.clock.now();
    if (!(await this.host.store.setSchedulePaused(name, true, null, now))) throw notFound(name);
    this.ticker.wake();
    return this.get(name);
  }

  /** Resumes from the next tick after now: ticks that fell while paused do not fire. */
  async resume(name: string): Promise<Schedule> {
    const row = await this.getRecord(name);
    const now = this.host.clock.now();
    const next = CronSchedule.parse(row.cron, row.timezone, now).nextAfter(now);
    if (!(await this.host.store.setSchedulePaused(name, false, next, now))) throw notFound(name);
    this.ticker.wake();
    return this.get(name);
  }

  /**
   * Starts a run of the schedule now, paused or not and whatever its overlap policy (an
   * operator's action), with run id `{schedule}:manual:{now ISO}`.
   */
  async trigger(name: string): Promise<{ runId: string }> {
    const row = await this.getRecord(name);
    this.getWorkflow(name, row.workflow);
    const runId = manualRunId(name, this.host.clock.now());
    const input: unknown = row.input === null ? undefined : JSON.parse(row.input);
    await this.host.startRun(row.workflow, input, runId);
    return { runId };
  }

  async delete(name: string): Promise<void> {
    if (!(await this.host.store.deleteSchedule(name))) throw notFound(name);
  }

  /** Ticks fired and skipped by this node since it started, per schedule. */
  tickCounts(): TickCounts[] {
    return [...this.counts.values()];
  }

  private countsOf(schedule: string): TickCounts {
    let counts = this.counts.get(schedule);
    if (!counts) {
      counts = { schedule, fired: 0, skipped: { missed: 0, overlap: 0 } };
      this.counts.set(schedule, counts);
    }
    return counts;
  }

  private getWorkflow(schedule: string, workflow: string): WorkflowDefinition {
    const definition = this.host.findWorkflow(workflow);
    if (!definition) {
      throw new ValidationError(
        "UNKNOWN_WORKFLOW",
        `schedule ${schedule} names workflow ${JSON.stringify(workflow)}, which this server does not know`,
        { schedule, workflow },
      );
    }
    return definition;
  }

  private async getRecord(name: string): Promise<ScheduleRecord> {
    const row = await this.host.store.findSchedule(name);
    if (!row) throw notFound(name);
    return row;
  }

  private async view(row: ScheduleRecord): Promise<Schedule> {
    const now = this.host.clock.now();
    let nextFireTimes: string[] = [];
    if (!row.paused && row.nextFireAt !== null) {
      const cron = CronSchedule.parse(row.cron, row.timezone, now);
      // The first not yet decided tick, then those after it.
      nextFireTimes = [row.nextFireAt, ...cron.next(NEXT_FIRE_TIMES - 1, row.nextFireAt)].map(iso);
    }
    const { runs } = await this.host.store.listRuns({
      runIdPrefix: `${row.name}:`,
      limit: LAST_RUNS,
    });
    return {
      name: row.name,
      cron: row.cron,
      timezone: row.timezone,
      workflow: row.workflow,
      ...(row.input === null ? {} : { input: JSON.parse(row.input) as unknown }),
      overlap: row.overlap,
      catchup: row.catchup,
      source: row.source,
      paused: row.paused,
      nextFireTimes,
      ...(row.lastTickAt === null ? {} : { lastTickAt: iso(row.lastTickAt) }),
      ...(row.lastRunId === null ? {} : { lastRunId: row.lastRunId }),
      firedCount: row.firedCount,
      skippedCount: row.skippedCount,
      ...(row.lastSkippedAt === null ? {} : { lastSkippedAt: iso(row.lastSkippedAt) }),
      ...(row.lastSkipReason === null ? {} : { lastSkipReason: row.lastSkipReason }),
      lastRuns: runs.map((run) => ({
        runId: run.runId,
        status: run.status,
        createdAt: iso(run.createdAt),
      })),
      createdAt: iso(row.createdAt),
      updatedAt: iso(row.updatedAt),
    };
  }
}

/**
 * Checks the schedules declared in code before anything runs: each valid, naming a known
 * workflow whose schema its input passes, no two with one name.
 */
export function checkSchedules(
  definitions: readonly ScheduleDefinition[],
  workflows: readonly WorkflowDefinition[],
  now: number,
): void {
  const names = new Set<string>();
  for (const { name, options } of definitions) {
    const { spec } = toScheduleSpec(name, options, "code", now);
    const workflow = workflows.find((w) => w.name === spec.workflow);
    if (!workflow) {
      throw new ValidationError(
        "UNKNOWN_WORKFLOW",
        `schedule ${name} names workflow ${JSON.stringify(spec.workflow)}, which is not among the workflows given`,
        { schedule: name, workflow: spec.workflow },
      );
    }
    validateInput(workflow, options.input);
    if (names.has(name)) {
      throw new ValidationError("DUPLICATE_SCHEDULE", `two schedules are named ${name}`);
    }
    names.add(name);
  }
}

function notFound(name: string): NotFoundError {
  return new NotFoundError("SCHEDULE_NOT_FOUND", `no schedule is named ${JSON.stringify(name)}`, {
    schedule: name,
  });
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
