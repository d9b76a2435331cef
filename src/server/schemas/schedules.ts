import { z } from "zod";
import { SCHEDULE_CATCHUPS, SCHEDULE_OVERLAPS } from "../../common/index.js";
import { documented } from "./registry.js";
import { RunStatusSchema } from "./wire.js";

/**
 * The schedules' requests and answers (docs/schedules.md). The cron expression, time zone and
 * policies are taken as strings and checked by the engine, which answers each with its own code
 * (INVALID_CRON, INVALID_TIMEZONE, INVALID_SCHEDULE); the enums here document the values.
 */

const timestamp = documented(z.string(), { description: "ISO 8601, UTC", format: "date-time" });
const count = z.number().int().min(0);

export const ScheduleParams = z.object({
  name: documented(z.string().min(1).max(200), "the schedule's name"),
});

export const SaveScheduleBody = z.strictObject({
  name: documented(
    z.string(),
    "a letter, then up to 99 of A–Z a–z 0–9 . _ - (it prefixes the runs' ids)",
  ),
  cron: documented(
    z.string(),
    "5 fields (minute hour day month weekday), or 6 with seconds first; @daily and friends",
  ),
  timezone: documented(z.string(), "IANA time zone of the cron times (default UTC)").optional(),
  workflow: documented(z.string(), "the workflow each tick starts; it must be registered"),
  input: documented(z.unknown(), "the input of every run the schedule starts").optional(),
  overlap: documented(
    z.string(),
    `${SCHEDULE_OVERLAPS.join(" | ")} (default skip): skip a tick while the previous run is not terminal, or allow overlapping runs`,
  ).optional(),
  catchup: documented(
    z.string(),
    `${SCHEDULE_CATCHUPS.join(" | ")} (default latest): which ticks missed while no node ran fire`,
  ).optional(),
});

export const ScheduleSchema = documented(
  z.object({
    name: z.string(),
    cron: z.string(),
    timezone: z.string(),
    workflow: z.string(),
    input: z.unknown().optional(),
    overlap: z.enum(SCHEDULE_OVERLAPS),
    catchup: z.enum(SCHEDULE_CATCHUPS),
    source: documented(z.enum(["code", "api"]), "declared in code, or created through the API"),
    paused: z.boolean(),
    nextFireTimes: documented(z.array(timestamp), "the next five ticks; empty while paused"),
    lastTickAt: timestamp.optional(),
    lastRunId: z.string().optional(),
    firedCount: count,
    skippedCount: count,
    lastSkippedAt: timestamp.optional(),
    lastSkipReason: documented(z.string(), "overlap or missed").optional(),
    lastRuns: documented(
      z.array(z.object({ runId: z.string(), status: RunStatusSchema, createdAt: timestamp })),
      "the schedule's five newest runs (ticks and triggers), newest first",
    ),
    createdAt: timestamp,
    updatedAt: timestamp,
  }),
  {
    additionalProperties: true,
    id: "Schedule",
    description:
      "A cron schedule that starts runs of a workflow, with its next ticks and last runs.",
  },
);

export const TriggeredSchema = z.object({
  runId: documented(z.string(), "{schedule}:manual:{ISO 8601 UTC}"),
});
