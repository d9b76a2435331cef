import { InvalidArgumentError, type Command } from "commander";
import {
  RUN_STATUSES,
  isRunStatus,
  isTerminal,
  type Run,
  type RunStatus,
} from "../../common/index.js";
import type { CliContext } from "../cli-context.js";
import { clientFor, withClientOptions, type ClientOptions } from "../client-options.js";
import { elapsedMs, formatAgo, formatDuration } from "../format.js";
import { collectTagFilter, parseTimeOption } from "../options.js";
import { renderTable } from "../table.js";

interface RunsOptions extends ClientOptions {
  workflow?: string;
  status?: RunStatus;
  limit: number;
  cursor?: string;
  tag?: string[];
  since?: string;
  until?: string;
}

/** `baton runs [--workflow W] [--status S] [--tag K=V]... [--since T] [--until T] [--limit N] [--cursor C]` */
export function registerRunsCommand(program: Command, context: CliContext): void {
  withClientOptions(
    program
      .command("runs")
      .description("list runs, newest first")
      .option("--workflow <name>", "only runs of this workflow")
      .option(
        "--status <status>",
        `only runs in this status (${RUN_STATUSES.join(", ")})`,
        parseStatus,
      )
      .option(
        "--tag <key=value>",
        "only runs with this tag; repeat for several (AND)",
        collectTagFilter,
      )
      .option(
        "--since <time>",
        "only runs created at or after this time: ISO 8601, or a duration ago such as 15m, 12h, 7d",
        parseTimeOption,
      )
      .option(
        "--until <time>",
        "only runs created before this time: ISO 8601, or a duration ago",
        parseTimeOption,
      )
      .option("-n, --limit <n>", "at most this many runs (1-1000)", parseLimit, 20)
      .option("--cursor <cursor>", "the next page, as printed after a full page"),
  ).action(async (options: RunsOptions) => {
    const page = await clientFor(options).listRuns({
      limit: options.limit,
      ...(options.workflow !== undefined ? { workflow: options.workflow } : {}),
      ...(options.status !== undefined ? { status: options.status } : {}),
      ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
      ...(options.tag !== undefined ? { tags: Object.fromEntries(options.tag.map(splitTag)) } : {}),
      ...(options.since !== undefined ? { createdAfter: options.since } : {}),
      ...(options.until !== undefined ? { createdBefore: options.until } : {}),
    });
    if (options.json) return context.printJson(page);
    if (page.runs.length === 0) {
      const filtered =
        options.workflow || options.status || options.tag || options.since || options.until;
      context.note("no runs" + (filtered ? " match" : " yet"));
      return;
    }
    const now = Date.now();
    const rows = page.runs.map((run) => [
      context.out.status(run.status),
      run.workflow,
      run.runId,
      formatAgo(run.createdAt, now),
      durationOf(run, now),
    ]);
    const lines = renderTable(
      [
        { header: "status" },
        { header: "workflow" },
        { header: "run id" },
        { header: "started" },
        { header: "duration", align: "right" },
      ],
      rows,
    );
    context.print(context.out.dim(lines[0] ?? ""));
    for (const line of lines.slice(1)) context.print(line);
    if (page.nextCursor)
      context.note(context.err.dim(`more: baton runs --cursor ${page.nextCursor}`));
  });
}

/** A finished run's length; for one still going, how long so far, marked with "…". */
function durationOf(run: Run, now: number): string {
  if (isTerminal(run.status)) return formatDuration(elapsedMs(run.createdAt, run.updatedAt) ?? 0);
  return `${formatDuration(now - Date.parse(run.createdAt))}…`;
}

function splitTag(filter: string): [string, string] {
  const colon = filter.indexOf(":");
  return [filter.slice(0, colon), filter.slice(colon + 1)];
}

function parseStatus(value: string): RunStatus {
  if (!isRunStatus(value)) {
    throw new InvalidArgumentError(`expected one of ${RUN_STATUSES.join(", ")}.`);
  }
  return value;
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError("expected a whole number from 1 to 1000.");
  }
  return limit;
}
