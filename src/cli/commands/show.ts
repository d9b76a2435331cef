import type { Command } from "commander";
import { isTerminal, type Run, type StepView } from "../../common/index.js";
import type { CliContext } from "../cli-context.js";
import { clientFor, withClientOptions, type ClientOptions } from "../client-options.js";
import { elapsedMs, formatClock, formatDuration, formatJson, truncate } from "../format.js";
import { renderTable, visibleWidth } from "../table.js";
import { renderTimeline } from "../timeline.js";

type ShowOptions = ClientOptions;

/** `baton show RUNID`: the run, its steps as a table, and a timeline of them. */
export function registerShowCommand(program: Command, context: CliContext): void {
  withClientOptions(
    program
      .command("show")
      .description("show a run: its steps with times, attempts and errors, and a timeline")
      .argument("<runId>", "the run's id"),
  ).action(async (runId: string, options: ShowOptions) => {
    const run = await clientFor(options).getRun(runId);
    if (options.json) return context.printJson(run);
    for (const line of describeRun(run, context, Date.now())) context.print(line);
  });
}

/** The whole page `baton show` prints. */
function describeRun(run: Run, context: CliContext, now: number): string[] {
  const { out } = context;
  const ended = isTerminal(run.status);
  const took = elapsedMs(run.createdAt, ended ? run.updatedAt : new Date(now).toISOString()) ?? 0;
  const lines = [
    `${out.bold(run.workflow)}  ${out.bold(run.runId)}  ${out.status(run.status)}  ${out.dim(
      `${formatDuration(took)}${ended ? "" : " so far"}`,
    )}`,
  ];
  const field = (name: string, value: string): void => {
    lines.push(`${out.dim(name.padEnd(8))}${value}`);
  };
  field("started", `${formatClock(run.createdAt)}  ${out.dim(run.createdAt)}`);
  if (ended) field("ended", formatClock(run.updatedAt));
  if (run.parentRunId) field("parent", run.parentRunId);
  // Generation 1 is every run's; a later one says the run continued as new (steps are its own).
  if (run.generation !== undefined && run.generation > 1)
    field("gen", `${run.generation} (continued as new; steps and input are this generation's)`);
  // On a terminal long values are cut to one line; piped, they are printed whole.
  const room = context.isInteractive ? context.columns - 10 : 100_000;
  field("input", formatJson(run.input, room));
  if (run.output !== undefined) field("output", formatJson(run.output, room));
  if (run.error) field("error", out.red(`${run.error.code}: ${run.error.message}`));
  if (run.waitingOn && !ended) {
    field("waiting", `${out.cyan(run.waitingOn.kind)}: ${run.waitingOn.reason}`);
    const failed = failedCompensationOf(run);
    if (failed !== undefined) {
      field("act", `baton retry ${run.runId}   ${out.dim("run the compensation again")}`);
      field(
        "",
        `baton skip ${run.runId} ${failed}   ${out.dim("leave it undone, roll back the rest")}`,
      );
      field("", `baton cancel ${run.runId}   ${out.dim("stop rolling back here")}`);
    }
  }
  lines.push("");
  if (run.steps.length === 0) {
    lines.push(out.dim("no steps yet"));
    return lines;
  }
  lines.push(...stepTable(run.steps, context));
  if (run.steps.some((step) => step.compensates !== undefined)) {
    lines.push(out.dim("↺ a compensation: it undoes the step whose seq it names"));
  }
  lines.push("");
  const barWidth = Math.min(60, Math.max(20, context.columns - 32));
  lines.push(...renderTimeline(run, { width: barWidth, now, style: out }));
  return lines;
}

function stepTable(steps: readonly StepView[], context: CliContext): string[] {
  const { out } = context;
  const rows = steps.map((step) => [
    String(step.seq),
    step.kind,
    step.compensates !== undefined ? `↺ ${step.name} (undoes ${step.compensates})` : step.name,
    out.status(step.status),
    String(step.attempts),
    durationOf(step),
    "",
  ]);
  const columns = [
    { header: "seq", align: "right" as const },
    { header: "kind" },
    { header: "name" },
    { header: "status" },
    { header: "attempts", align: "right" as const },
    { header: "duration", align: "right" as const },
    { header: "error" },
  ];
  // The error column gets whatever width the others leave, so a table fits its terminal.
  const used = visibleWidth(renderTable(columns.slice(0, -1), rows)[0] ?? "");
  const room = context.isInteractive ? Math.max(30, context.columns - used - 3) : 1_000;
  steps.forEach((step, i) => {
    const row = rows[i];
    if (row && step.error) row[6] = out.red(truncate(errorText(step), room));
  });
  const [header = "", ...body] = renderTable(columns, rows);
  return [out.dim(header), ...body];
}

function errorText(step: StepView): string {
  const error = step.error;
  if (!error) return "";
  const prefix = step.status === "failed" ? "" : "last attempt: ";
  return `${prefix}${error.code}: ${error.message}`;
}

function durationOf(step: StepView): string {
  const ms = elapsedMs(step.startedAt, step.endedAt);
  return ms === undefined ? (step.startedAt ? "…" : "") : formatDuration(ms);
}

/** The seq whose compensation failed and waits for an operator (or its next attempt), if any. */
function failedCompensationOf(run: Run): number | undefined {
  const waiting = run.waitingOn;
  if (run.status !== "compensating" || !waiting) return undefined;
  return waiting.kind === "operator" || waiting.kind === "retry" ? waiting.compensates : undefined;
}
