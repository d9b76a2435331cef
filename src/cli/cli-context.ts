import type { ExitCode } from "./cli-error.js";
import { Style, type Terminal } from "./terminal.js";

/** What every command's action gets: where to write, how to style it, and its exit code. */
export class CliContext {
  /** The process's exit code once the command returns; commands lower it to 1 when a run did not complete. */
  exitCode: ExitCode = 0;
  readonly out: Style;
  readonly err: Style;

  constructor(readonly terminal: Terminal) {
    this.out = new Style(terminal.stdout);
    this.err = new Style(terminal.stderr);
  }

  /** A line on stdout: results. */
  print(text = ""): void {
    this.terminal.stdout.write(`${text}\n`);
  }

  /** A line on stderr: progress, hints and warnings, kept out of piped results. */
  note(text = ""): void {
    this.terminal.stderr.write(`${text}\n`);
  }

  /** Machine-readable output for `--json`: one JSON document on stdout. */
  printJson(value: unknown): void {
    this.terminal.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Columns of the terminal; on a pipe or a file lines may be long, so nothing is cut short. */
  get columns(): number {
    const { stdout } = this.terminal;
    return stdout.isTTY && stdout.columns ? stdout.columns : 160;
  }

  /** True when stdout is a terminal: a person reads it, so long values may be cut to fit. */
  get isInteractive(): boolean {
    return this.terminal.stdout.isTTY === true;
  }
}
