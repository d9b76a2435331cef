import type { Command } from "commander";
import type { Schedule } from "../../client/index.js";
import type { CliContext } from "../cli-context.js";
import { clientFor, withClientOptions, type ClientOptions } from "../client-options.js";
import { formatAgo, formatDuration } from "../format.js";
import { renderTable } from "../table.js";

/**
 * `baton schedules [list]`, `baton schedules show|pause|resume|trigger NAME`: the schedules as a
 * table (state, cron, workflow, next tick, last run, ticks fired and skipped), and the operator's
 * actions on one of them.
 */
export function registerSchedulesCommand(program: Command, context: CliContext): void {
  const schedules = program
    .command("schedules")
    .description("list schedules, or pause, resume or trigger one (baton schedules --help)");

  withClientOptions(
    schedules
      .command("list", { isDefault: true })
      .description("every schedule: state, cron, workflow, next tick, last run"),
  ).action(async (options: ClientOptions) => {
    const list = await clientFor(options).listSchedules();
    if (options.json) return context.printJson({ schedules: list });
    if (list.length === 0) {
      context.note(
        "no schedules yet: export schedule() values beside your workflows, or POST /v1/schedules",
      );
      return;
    }
    printTable(context, list);
  });

  withClientOptions(
    schedules
      .command("show")
      .description("one schedule: its next five ticks and its last runs")
      .argument("<name>", "the schedule's name"),
  ).action(async (name: string, options: ClientOptions) => {
    const schedule = await clientFor(options).getSchedule(name);
    if (options.json) return context.printJson(schedule);
    printDetail(context, schedule);
  });

  const actions = [
    {
      name: "pause",
      description: "pause a schedule: its ticks start no run until it is resumed",
      act: (client: ReturnType<typeof clientFor>, name: string) => client.pauseSchedule(name),
      done: (s: Schedule) => `schedule ${s.name} paused`,
    },
    {
      name: "resume",
      description:
        "resume a schedule from its next tick (ticks that fell while paused do not fire)",
      act: (client: ReturnType<typeof clientFor>, name: string) => client.resumeSchedule(name),
      done: (s: Schedule) =>
        `schedule ${s.name} resumed; next tick ${s.nextFireTimes[0] ?? "none"}`,
    },
  ];
  for (const action of actions) {
    withClientOptions(
      schedules
        .command(action.name)
        .description(action.description)
        .argument("<name>", "the schedule's name"),
    ).action(async (name: string, options: ClientOptions) => {
      const schedule = await action.act(clientFor(options), name);
      if (options.json) return context.printJson(schedule);
      context.print(action.done(schedule));
    });
  }

  withClientOptions(
    schedules
      .command("trigger")
      .description("start a run of the schedule now (run id NAME:manual:ISO), paused or not")
      .argument("<name>", "the schedule's name"),
  ).action(async (name: string, options: ClientOptions) => {
    const { runId } = await clientFor(options).triggerSchedule(name);
    if (options.json) return context.printJson({ runId });
    context.print(`schedule ${name} triggered: run ${runId}`);
    context.note(context.err.dim(`follow it: baton show ${runId}`));
  });
}

function printTable(context: CliContext, list: readonly Schedule[]): void {
  const now = Date.now();
  const rows = list.map((s) => {
    const last = s.lastRuns[0];
    return [
      s.name,
      s.paused ? context.out.yellow("paused") : context.out.green("active"),
      s.timezone === "UTC" ? s.cron : `${s.cron} (${s.timezone})`,
      s.workflow,
      s.nextFireTimes[0] === undefined ? "—" : formatNext(s.nextFireTimes[0], now),
      last ? `${context.out.status(last.status)} ${last.runId}` : "—",
      String(s.firedCount),
      String(s.skippedCount),
    ];
  });
  const lines = renderTable(
    [
      { header: "name" },
      { header: "state" },
      { header: "cron" },
      { header: "workflow" },
      { header: "next tick" },
      { header: "last run" },
      { header: "fired", align: "right" },
      { header: "skipped", align: "right" },
    ],
    rows,
  );
  context.print(context.out.dim(lines[0] ?? ""));
  for (const line of lines.slice(1)) context.print(line);
}

function printDetail(context: CliContext, s: Schedule): void {
  const now = Date.now();
  context.print(`schedule ${s.name} — ${s.paused ? "paused" : "active"}`);
  context.print(`  cron      ${s.cron} (${s.timezone})`);
  context.print(
    `  workflow  ${s.workflow}${s.input === undefined ? "" : ` ${JSON.stringify(s.input)}`}`,
  );
  context.print(`  policies  overlap ${s.overlap}, catch-up ${s.catchup}; declared in ${s.source}`);
  context.print(
    `  ticks     ${s.firedCount} fired, ${s.skippedCount} skipped` +
      (s.lastSkippedAt ? ` (last skipped ${s.lastSkippedAt}: ${s.lastSkipReason ?? ""})` : ""),
  );
  context.print("next ticks");
  if (s.nextFireTimes.length === 0) context.print("  none (paused)");
  for (const at of s.nextFireTimes) context.print(`  ${formatNext(at, now)}`);
  context.print("last runs");
  if (s.lastRuns.length === 0) context.print("  none yet");
  const lines = renderTable(
    [{ header: "status" }, { header: "run id" }, { header: "started" }],
    s.lastRuns.map((r) => [context.out.status(r.status), r.runId, formatAgo(r.createdAt, now)]),
  );
  if (s.lastRuns.length) for (const line of lines) context.print(`  ${line}`);
}

/** `2026-12-07T03:00:00.000Z (in 5 h 12 min)`. */
function formatNext(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  return ms > 0 ? `${iso} (in ${formatDuration(ms)})` : `${iso} (due)`;
}
