import { isTerminal, type Run, type StepView } from "../../common/index.js";
import type { CliContext } from "../cli-context.js";
import { formatDuration, truncate } from "../format.js";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const REFRESH_MS = 120;

/**
 * The live line `baton run --wait` keeps on stderr: status, step N of M, the step in progress,
 * what the run waits on, and the time so far. On a terminal it is redrawn in place; on a pipe
 * or file a line is written only when something changes, so logs stay readable.
 */
export class RunProgress {
  private run: Run | undefined;
  private expectedSteps: number | undefined;
  private frame = 0;
  private lastLine = "";
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly isLive: boolean;
  private readonly startedAt = Date.now();

  constructor(private readonly context: CliContext) {
    this.isLive = context.terminal.stderr.isTTY === true;
    if (this.isLive) {
      this.timer = setInterval(() => this.draw(), REFRESH_MS);
      this.timer.unref();
    }
  }

  /** How many steps a completed run of this workflow took, if known: the M of "step N of M". */
  expect(steps: number | undefined): void {
    this.expectedSteps = steps;
  }

  update(run: Run): void {
    this.run = run;
    this.draw();
  }

  /** Clears the live line; the final result is printed after it. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.isLive && this.lastLine) this.context.terminal.stderr.write("\r\u001b[2K");
  }

  private draw(): void {
    const run = this.run;
    if (!run) return;
    const text = this.describe(run);
    if (this.isLive) {
      this.frame = (this.frame + 1) % SPINNER.length;
      const elapsed = formatDuration(Date.now() - this.startedAt);
      const line = truncate(`${SPINNER[this.frame] ?? ""} ${text}  ${elapsed}`, this.width());
      this.context.terminal.stderr.write(`\r\u001b[2K${this.context.err.dim(line)}`);
      this.lastLine = line;
    } else if (text !== this.lastLine) {
      this.context.note(text);
      this.lastLine = text;
    }
  }

  private describe(run: Run): string {
    const parts = [run.runId, run.status];
    if (isTerminal(run.status)) return parts.join(" · ");
    const current = run.steps.at(-1);
    if (run.status === "compensating") {
      // Every operation after the failure is a compensation, even before the journal says so.
      if (current) parts.push(`undoing: ${describeStep(current)}`);
    } else if (run.steps.length > 0) {
      const done = run.steps.filter((step) => step.compensates === undefined).length;
      const total =
        this.expectedSteps !== undefined && this.expectedSteps >= done
          ? ` of ${this.expectedSteps}`
          : "";
      parts.push(`step ${done}${total}`);
      if (current) parts.push(describeStep(current));
    }
    if (run.waitingOn) parts.push(`(${run.waitingOn.reason})`);
    return parts.join(" · ");
  }

  private width(): number {
    const columns = this.context.terminal.stderr.columns;
    return Math.max(20, (columns && columns > 0 ? columns : 100) - 1);
  }
}

function describeStep(step: StepView): string {
  return step.attempts > 1 ? `${step.name} (attempt ${step.attempts})` : step.name;
}
