import {
  SCHEDULE_CATCHUPS,
  SCHEDULE_OVERLAPS,
  ValidationError,
  findNonJson,
  type ScheduleCatchup,
  type ScheduleOverlap,
} from "../../common/index.js";
import type { ScheduleSpec } from "../../store/index.js";
import type { WorkflowDefinition } from "../context.js";
import { CronSchedule } from "./cron.js";

/** What `schedule()` and `POST /v1/schedules` take (docs/schedules.md). */
export interface ScheduleOptions<I = unknown> {
  /** A cron expression: 5 fields, or 6 with seconds first (`*\/10 * * * * *`); `@daily` and friends. */
  cron: string;
  /** The IANA time zone the cron expression's times are read in (default "UTC"). */
  timezone?: string;
  /** The workflow each tick starts: its `workflow()` value or its name. */
  workflow: WorkflowDefinition<I, unknown> | string;
  /** The input of every run the schedule starts. */
  input?: I;
  /** `skip` (default): a tick is skipped while the previous run is not terminal. `allow`: runs overlap. */
  overlap?: ScheduleOverlap;
  /**
   * Ticks missed while no node ran: `none` skips them, `latest` (default) fires the newest, `all`
   * fires each (at most the 100 newest).
   */
  catchup?: ScheduleCatchup;
}

export interface ScheduleDefinition {
  readonly kind: "schedule";
  readonly name: string;
  readonly options: ScheduleOptions;
}

export const DEFAULT_OVERLAP: ScheduleOverlap = "skip";
export const DEFAULT_CATCHUP: ScheduleCatchup = "latest";

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,99}$/;

/**
 * Checks a schedule and gives its row's spec. Everything but whether the workflow exists, which
 * the engine checks (UNKNOWN_WORKFLOW): the cron expression and time zone (INVALID_CRON,
 * INVALID_TIMEZONE), the name, policies and input (INVALID_SCHEDULE).
 */
export function toScheduleSpec(
  name: unknown,
  options: ScheduleOptions,
  source: "code" | "api",
  now: number,
): { spec: ScheduleSpec; cron: CronSchedule } {
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    throw new ValidationError(
      "INVALID_SCHEDULE",
      `schedule name ${JSON.stringify(name)} is invalid: start with a letter, then up to 99 of A–Z a–z 0–9 . _ -`,
      { name },
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new ValidationError("INVALID_SCHEDULE", `schedule ${name}: options are missing`);
  }
  const cron = CronSchedule.parse(options.cron, options.timezone ?? "UTC", now);
  const workflow = typeof options.workflow === "string" ? options.workflow : options.workflow?.name;
  if (typeof workflow !== "string" || workflow === "") {
    throw new ValidationError(
      "INVALID_SCHEDULE",
      `schedule ${name}: workflow must be a workflow() value or a workflow's name`,
    );
  }
  const overlap = options.overlap ?? DEFAULT_OVERLAP;
  if (!SCHEDULE_OVERLAPS.includes(overlap)) {
    throw new ValidationError(
      "INVALID_SCHEDULE",
      `schedule ${name}: overlap ${JSON.stringify(overlap)} is not one of ${SCHEDULE_OVERLAPS.join(", ")}`,
    );
  }
  const catchup = options.catchup ?? DEFAULT_CATCHUP;
  if (!SCHEDULE_CATCHUPS.includes(catchup)) {
    throw new ValidationError(
      "INVALID_SCHEDULE",
      `schedule ${name}: catchup ${JSON.stringify(catchup)} is not one of ${SCHEDULE_CATCHUPS.join(", ")}`,
    );
  }
  const problem = options.input === undefined ? undefined : findNonJson(options.input, "input");
  if (problem) throw new ValidationError("INPUT_NOT_JSON", `schedule ${name}: ${problem}`);
  return {
    spec: {
      name,
      cron: cron.cron,
      timezone: cron.timezone,
      workflow,
      input: options.input === undefined ? null : JSON.stringify(options.input),
      overlap,
      catchup,
      source,
    },
    cron,
  };
}
