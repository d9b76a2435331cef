import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { CliContext } from "./cli-context.js";
import { ExitCode, describeError, exitCodeOf } from "./cli-error.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerReplayCheckCommand } from "./commands/replay-check.js";
import { registerRunCommand } from "./commands/run.js";
import { registerRunOperations } from "./commands/run-operations.js";
import { registerRunsCommand } from "./commands/runs.js";
import { registerSchedulesCommand } from "./commands/schedules.js";
import { registerServeCommands } from "./commands/serve.js";
import { registerShowCommand } from "./commands/show.js";
import { processTerminal, type Terminal } from "./terminal.js";

/**
 * Runs one `baton` command line and resolves with its exit code: 0 ok, 1 a run
 * that did not complete, a run not found or a server that failed, 2 usage or bad input. Never
 * throws, and never prints a stack trace unless BATON_DEBUG is set.
 */
export async function runCli(
  args: readonly string[],
  terminal: Terminal = processTerminal(),
): Promise<number> {
  const context = new CliContext(terminal);
  const program = buildProgram(context);
  try {
    await program.parseAsync(args, { from: "user" });
    return context.exitCode;
  } catch (e) {
    // Commander has already printed its own message (unknown option, missing argument…).
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    context.note(context.err.red(describeError(e)));
    return exitCodeOf(e);
  }
}

export function buildProgram(context: CliContext): Command {
  const program = new Command("baton")
    .description("Baton, a durable orchestrator for microservices")
    .version(packageVersion(), "-v, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.terminal.stdout.write(text),
      writeErr: (text) => context.terminal.stderr.write(text),
      outputError: (text, write) => write(context.err.red(text)),
    })
    .showHelpAfterError("(run baton --help for usage)")
    .showSuggestionAfterError(true);
  registerServeCommands(program);
  registerRunCommand(program, context);
  registerRunsCommand(program, context);
  registerShowCommand(program, context);
  registerRunOperations(program, context);
  registerSchedulesCommand(program, context);
  registerDemoCommand(program, context);
  registerReplayCheckCommand(program, context);
  program.addHelpText(
    "after",
    `
Client commands find the server through --url or BATON_URL (default http://127.0.0.1:7070),
and the API token through --token or BATON_API_TOKEN.
Exit codes: 0 ok; 1 the run ended any other way than completed, or was not found; 2 usage or bad input.`,
  );
  return program;
}

function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}
