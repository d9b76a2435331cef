/**
 * One progress line on stderr: redrawn in place with `\r` on a terminal; elsewhere (CI logs)
 * one line per task, so logs stay short.
 */
export class Progress {
  private readonly isTty = process.stderr.isTTY;
  private task = "";
  private index = 0;
  private lastDraw = 0;

  constructor(private readonly totalTasks: number) {}

  /** A new task begins. */
  begin(label: string): void {
    this.index++;
    this.task = label;
    if (this.isTty) this.draw("", true);
    else process.stderr.write(`[${this.index}/${this.totalTasks}] ${label}\n`);
  }

  /** Progress within the current task. */
  update(phase: string, done: number, total: number): void {
    if (!this.isTty) return;
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    this.draw(`${phase} ${"█".repeat(filled)}${"░".repeat(width - filled)} ${done}/${total}`, done === total);
  }

  /** A line that must stay visible (a failure); the progress line is redrawn below it. */
  note(line: string): void {
    if (this.isTty) process.stderr.write("\r\x1b[K");
    process.stderr.write(`${line}\n`);
  }

  end(): void {
    if (this.isTty) process.stderr.write("\r\x1b[K");
  }

  private draw(detail: string, force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    process.stderr.write(`\r[${this.index}/${this.totalTasks}] ${this.task} ${detail}\x1b[K`);
  }
}
