import { describe, expect, it } from "vitest";
import type { BatonError } from "../../common/index.js";
import { CronSchedule } from "./cron.js";

const iso = (ms: number): string => new Date(ms).toISOString();
const at = (text: string): number => Date.parse(text);

describe("CronSchedule in Europe/Berlin across the DST changes of 2026", () => {
  it.each([
    {
      what: "02:30 daily around spring forward (29 March: 02:00 CET → 03:00 CEST, 02:30 does not exist)",
      cron: "30 2 * * *",
      after: "2026-03-27T12:00:00Z",
      // 02:30 CET = 01:30Z; on the 29th the first instant after the gap, 03:00 CEST = 01:00Z; then 02:30 CEST = 00:30Z.
      next: ["2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"],
    },
    {
      what: "02:30 daily around fall back (25 October: 03:00 CEST → 02:00 CET, 02:30 happens twice)",
      cron: "30 2 * * *",
      after: "2026-10-23T12:00:00Z",
      // Once on the 25th, at the first 02:30 (CEST = 00:30Z); then 02:30 CET = 01:30Z.
      next: ["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"],
    },
    {
      what: "hourly through spring forward: every real hour, 02:00 local skipped",
      cron: "0 * * * *",
      after: "2026-03-28T23:30:00Z",
      // 01:00 CET, 03:00 CEST, 04:00 CEST, 05:00 CEST
      next: [
        "2026-03-29T00:00:00.000Z",
        "2026-03-29T01:00:00.000Z",
        "2026-03-29T02:00:00.000Z",
        "2026-03-29T03:00:00.000Z",
      ],
    },
    {
      what: "hourly through fall back: every real hour, 02:00 local twice",
      cron: "0 * * * *",
      after: "2026-10-24T23:30:00Z",
      // 02:00 CEST, 02:00 CET, 03:00 CET, 04:00 CET
      next: [
        "2026-10-25T00:00:00.000Z",
        "2026-10-25T01:00:00.000Z",
        "2026-10-25T02:00:00.000Z",
        "2026-10-25T03:00:00.000Z",
      ],
    },
    {
      what: "09:00 on weekdays, in summer and winter time",
      cron: "0 9 * * 1-5",
      after: "2026-10-23T12:00:00Z",
      // Mon 26 Oct 09:00 CET = 08:00Z (the Friday before was 07:00Z, in CEST)
      next: ["2026-10-26T08:00:00.000Z", "2026-10-27T08:00:00.000Z"],
    },
  ])("$what", ({ cron, after, next }) => {
    const schedule = CronSchedule.parse(cron, "Europe/Berlin", at(after));
    expect(schedule.next(next.length, at(after)).map(iso)).toEqual(next);
    expect(schedule.nextAfter(at(after))).toBe(at(next[0]!));
  });

  it("lists the due ticks of a range oldest first, the newest `limit` of them", () => {
    const everySecond = CronSchedule.parse("* * * * * *", "UTC", 0);
    const from = at("2026-01-01T00:00:00Z");
    expect(everySecond.due(from, from + 2_500, 10)).toEqual({
      ticks: [from, from + 1_000, from + 2_000],
      truncated: false,
    });
    expect(everySecond.due(from, from + 9_000, 3)).toEqual({
      ticks: [from + 7_000, from + 8_000, from + 9_000],
      truncated: true,
    });
    expect(everySecond.due(from + 1, from, 3)).toEqual({ ticks: [], truncated: false });
  });

  it.each([
    { cron: "not a cron", timezone: "UTC", code: "INVALID_CRON" },
    { cron: "61 * * * *", timezone: "UTC", code: "INVALID_CRON" },
    { cron: "0 0 30 2 *", timezone: "UTC", code: "INVALID_CRON" }, // 30 February: never fires
    { cron: "", timezone: "UTC", code: "INVALID_CRON" },
    { cron: "0 3 * * *", timezone: "Mars/Olympus", code: "INVALID_TIMEZONE" },
    { cron: "0 3 * * *", timezone: "", code: "INVALID_TIMEZONE" },
  ])("refuses $cron in $timezone with $code", ({ cron, timezone, code }) => {
    let error: BatonError | undefined;
    try {
      CronSchedule.parse(cron, timezone, at("2026-01-01T00:00:00Z"));
    } catch (e) {
      error = e as BatonError;
    }
    expect(error?.code).toBe(code);
  });
});
