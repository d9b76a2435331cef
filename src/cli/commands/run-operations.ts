import { Argument, type Command } from "commander";
import type { CliContext } from "../cli-context.js";
import { clientFor, withClientOptions, type ClientOptions } from "../client-options.js";
import { readJsonArgument } from "../json-argument.js";
import { parseSeq } from "../options.js";

interface SignalOptions extends ClientOptions {
  payload?: string;
}

interface CancelOptions extends ClientOptions {
  reason?: string;
}

/**
 * `baton signal`, `baton cancel`, `baton retry`, `baton skip`: one request each, answered 202 by
 * the server.
 */
export function registerRunOperations(program: Command, context: CliContext): void {
  withClientOptions(
    program
      .command("signal")
      .description("send signal NAME to a run; one sent before the run waits for it is kept")
      .argument("<runId>", "the run's id")
      .argument("<name>", "the signal's name")
      .option("-p, --payload <json>", "the signal's payload: JSON, @file, or @- for stdin"),
  ).action(async (runId: string, name: string, options: SignalOptions) => {
    const payload =
      options.payload === undefined
        ? undefined
        : await readJsonArgument("--payload", options.payload);
    await clientFor(options).signal(runId, name, payload);
    accepted(context, options, { runId, signal: name }, `signal ${name} sent to run ${runId}`);
  });

  withClientOptions(
    program
      .command("cancel")
      .description("cancel a run: its compensations run, then it ends cancelled")
      .argument("<runId>", "the run's id")
      .option("--reason <text>", "recorded with the cancellation"),
  ).action(async (runId: string, options: CancelOptions) => {
    await clientFor(options).cancel(runId, {
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
    });
    accepted(context, options, { runId, cancel: true }, `run ${runId} is being cancelled`);
  });

  withClientOptions(
    program
      .command("retry")
      .description(
        "resume a failed run where it stopped (completed steps do not run again), or run the " +
          "failed compensation a rollback waits on again",
      )
      .argument("<runId>", "the run's id"),
  ).action(async (runId: string, options: ClientOptions) => {
    await clientFor(options).retry(runId);
    accepted(context, options, { runId, retry: true }, `run ${runId} resumes`);
  });

  withClientOptions(
    program
      .command("skip")
      .description(
        "skip the failed compensation a rollback waits on: it stays undone, the rollback goes " +
          "on, and the run ends failed (PARTIALLY_COMPENSATED)",
      )
      .argument("<runId>", "the run's id")
      .addArgument(
        new Argument("<seq>", "the seq whose compensation failed (baton show: waiting)").argParser(
          parseSeq,
        ),
      ),
  ).action(async (runId: string, seq: number, options: ClientOptions) => {
    await clientFor(options).skipCompensation(runId, seq);
    accepted(
      context,
      options,
      { runId, skipCompensation: seq },
      `compensation of seq ${seq} of run ${runId} skipped; the rollback goes on without it`,
    );
  });
}

function accepted(
  context: CliContext,
  options: ClientOptions,
  json: Record<string, unknown>,
  text: string,
): void {
  if (options.json) return context.printJson({ accepted: true, ...json });
  context.print(text);
  context.note(context.err.dim(`follow it: baton show ${String(json.runId)}`));
}
