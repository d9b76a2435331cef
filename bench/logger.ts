import type { Logger } from "../src/index.js";

const SAMPLES = 5;

/**
 * A logger for engines under measurement. Debug and info cost nothing. Errors are problems
 * (the bench fails on them); warnings are counted, since the engine warns about business
 * outcomes the workload expects (a step failing for good, a run compensated). Only the first
 * few lines of each are formatted, so logging stays cheap inside the measured window.
 */
export class LogTally {
  errors = 0;
  warnings = 0;
  readonly errorLines: string[] = [];
  readonly warningLines: string[] = [];
  readonly logger: Logger;

  constructor(private readonly onError?: (line: string) => void) {
    this.logger = this.make({});
  }

  private make(bindings: Record<string, unknown>): Logger {
    return {
      debug: () => {},
      info: () => {},
      warn: (obj, msg) => {
        if (++this.warnings <= SAMPLES) this.warningLines.push(format(msg, bindings, obj));
      },
      error: (obj, msg) => {
        const line = format(msg, bindings, obj);
        if (++this.errors <= SAMPLES) this.errorLines.push(line);
        this.onError?.(line);
      },
      child: (more) => this.make({ ...bindings, ...more }),
    };
  }

  /** Errors, as lines for a report of problems. */
  problems(): string[] {
    const lines = this.errorLines.map((line) => `engine logged an error: ${line}`);
    if (this.errors > this.errorLines.length) lines.push(`… and ${this.errors - this.errorLines.length} more engine errors`);
    return lines;
  }
}

function format(msg: string | undefined, bindings: Record<string, unknown>, obj: object): string {
  try {
    return `${msg ?? ""} ${JSON.stringify({ ...bindings, ...obj })}`;
  } catch {
    return msg ?? "(unprintable)";
  }
}
