import { Option, type Command } from "commander";
import { isTerminal, type Run } from "../../common/index.js";
import type { BatonClient } from "../../client/index.js";
import { ExitCode } from "../cli-error.js";
import type { CliContext } from "../cli-context.js";
import { clientFor, withClientOptions, type ClientOptions } from "../client-options.js";
import { elapsedMs, formatDuration, formatJson } from "../format.js";
import { readJsonArgument } from "../json-argument.js";
import { collectTag, parseDeadline } from "../options.js";
import { RunProgress } from "./run-progress.js";

interface RunOptions extends ClientOptions {
  input?: string;
  id?: string;
  wait?: boolean;
  deadline?: number;
  tag?: Record<string, string>;
}

/** `baton run WORKFLOW [--input JSON|@file] [--id RUNID] [--deadline MS] [--tag K=V]... [--wait]` */
export function registerRunCommand(program: Command, context: CliContext): void {
  withClientOptions(
    program
      .command("run")
      .description("start a run of WORKFLOW; with --wait, follow it to its end")
      .argument("<workflow>", "the workflow's name")
      .option("-i, --input <json>", "the run's input: JSON, @file, or @- for stdin")
      .option("--id <runId>", "the run's id; an existing id returns that run (idempotent start)")
      .addOption(
        new Option(
          "--deadline <ms>",
          "time limit in ms: when it passes, the run fails (DEADLINE_EXCEEDED) and rolls back",
        ).argParser(parseDeadline),
      )
      .option("--tag <key=value>", "a tag to search the run by; repeat for several", collectTag)
      .option("-w, --wait", "follow the run; exit 0 only if it completes"),
  ).action(async (workflow: string, options: RunOptions) => {
    const input =
      options.input === undefined ? undefined : await readJsonArgument("--input", options.input);
    const client = clientFor(options);
    const { run, created } = await client.startRun(workflow, input, {
      ...(options.id !== undefined ? { runId: options.id } : {}),
      ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
      ...(options.tag !== undefined ? { tags: options.tag } : {}),
    });
    if (!options.wait) {
      if (options.json) return context.printJson(run);
      const how = created ? "started" : "exists already:";
      context.print(
        `${how} run ${context.out.bold(run.runId)} (${run.workflow}, ${context.out.status(run.status)})`,
      );
      context.note(context.err.dim(`follow it: baton show ${run.runId}`));
      return;
    }
    const final = await follow(client, run, context);
    context.exitCode = final.status === "completed" ? ExitCode.Ok : ExitCode.Failed;
    if (options.json) return context.printJson(final);
    printOutcome(final, context);
  });
}

/** Follows the run's event stream to its terminal state, drawing the progress line meanwhile. */
async function follow(client: BatonClient, started: Run, context: CliContext): Promise<Run> {
  if (isTerminal(started.status)) return started;
  const progress = new RunProgress(context);
  progress.update(started);
  void expectedStepCount(client, started.workflow).then((steps) => progress.expect(steps));
  let latest = started;
  try {
    for await (const run of client.streamRun(started.runId)) {
      latest = run;
      progress.update(run);
    }
  } finally {
    progress.stop();
  }
  // The stream ends after the terminal state; if it ended early, the run itself says where it is.
  return isTerminal(latest.status) ? latest : client.getRun(started.runId);
}

/**
 * Steps the latest completed run of this workflow took: the M of "step N of M". Only a guess
 * (workflows branch), so any trouble finding it leaves M out rather than failing the command.
 */
async function expectedStepCount(
  client: BatonClient,
  workflow: string,
): Promise<number | undefined> {
  try {
    const { runs } = await client.listRuns({ workflow, status: "completed", limit: 1 });
    const latest = runs[0];
    if (!latest) return undefined;
    const run = await client.getRun(latest.runId);
    return run.steps.filter((step) => step.compensates === undefined).length;
  } catch {
    return undefined;
  }
}

function printOutcome(run: Run, context: CliContext): void {
  const { out } = context;
  const took = formatDuration(elapsedMs(run.createdAt, run.updatedAt) ?? 0);
  if (run.status === "completed") {
    context.print(
      `${out.green("✓")} run ${out.bold(run.runId)} ${out.status(run.status)} in ${took}`,
    );
    if (run.output !== undefined) context.print(`output: ${formatJson(run.output, 2_000)}`);
    return;
  }
  context.print(
    `${out.red("✗")} run ${out.bold(run.runId)} ${out.status(run.status)} after ${took}`,
  );
  if (run.error) context.print(`error: ${run.error.code}: ${run.error.message}`);
  context.note(context.err.dim(`steps: baton show ${run.runId}`));
}
