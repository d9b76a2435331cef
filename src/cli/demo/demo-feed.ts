import type { BatonEvent, ErrorData, ServiceInfo } from "../../common/index.js";
import type { CliContext } from "../cli-context.js";
import { truncate } from "../format.js";
import { visibleWidth } from "../table.js";

export interface FeedSource {
  on(listener: (event: BatonEvent) => void): () => void;
  services(): Promise<ServiceInfo[]>;
}

const TTY_REFRESH_MS = 1_000;
const PIPE_REFRESH_MS = 10_000;

/**
 * What the demo prints while it runs: one line per order that did not simply complete (they
 * are the interesting ones), and a tally with the payments queue — kept in place at the bottom
 * of a terminal, or written every ten seconds when stdout is a pipe or a file.
 */
export class DemoFeed {
  private readonly tally = { completed: 0, compensated: 0, failed: 0, cancelled: 0, started: 0 };
  private queue: ServiceInfo | undefined;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private statusShown = false;
  private lastPrinted = "";
  private readonly isLive: boolean;

  constructor(
    private readonly context: CliContext,
    private readonly source: FeedSource,
    private readonly workflow: string,
  ) {
    this.isLive = context.terminal.stdout.isTTY === true;
  }

  start(): void {
    this.unsubscribe = this.source.on((event) => this.onEvent(event));
    this.timer = setInterval(
      () => void this.refresh(),
      this.isLive ? TTY_REFRESH_MS : PIPE_REFRESH_MS,
    );
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    clearInterval(this.timer);
    if (this.statusShown) this.context.terminal.stdout.write("\n");
    this.statusShown = false;
  }

  private onEvent(event: BatonEvent): void {
    if (event.workflow !== this.workflow) return;
    if (event.type === "run.started") this.tally.started++;
    if (event.type === "run.completed") this.tally.completed++;
    if (event.type !== "run.failed" && event.type !== "run.cancelled") return;
    const status = event.status as "compensated" | "failed" | "cancelled";
    if (status in this.tally) this.tally[status]++;
    const error = (event.data as { error?: ErrorData } | undefined)?.error;
    const { out } = this.context;
    const mark = status === "failed" ? out.red("✗") : out.yellow("↺");
    const head = `  ${mark} ${event.runId} ${out.status(status)}`;
    const hint = `  ${out.dim(`npx baton show ${event.runId}`)}`;
    // One line per order on a terminal, so the live tally below stays where it is.
    const room = this.isLive ? this.context.columns - visibleWidth(head + hint) - 2 : 10_000;
    const why = error ? `: ${truncate(`${error.code}: ${error.message}`, Math.max(10, room))}` : "";
    this.line(`${head}${why}${hint}`);
  }

  private async refresh(): Promise<void> {
    try {
      this.queue = (await this.source.services()).find((s) => s.transport === "queue");
    } catch {
      // The engine is closing; the tally stays as it was.
    }
    const status = this.status();
    if (this.isLive) {
      this.context.terminal.stdout.write(`\r\u001b[2K${status}`);
      this.statusShown = true;
    } else if (status !== this.lastPrinted) {
      this.context.print(status);
      this.lastPrinted = status;
    }
  }

  private status(): string {
    const { out } = this.context;
    const t = this.tally;
    const ended = t.completed + t.compensated + t.failed + t.cancelled;
    const parts = [
      out.green(`${t.completed} completed`),
      out.yellow(`${t.compensated} compensated`),
      (t.failed ? out.red : out.dim)(`${t.failed} failed`),
      `${Math.max(0, t.started - ended)} in flight`,
    ];
    const queue = this.queue
      ? out.dim(
          `  ${this.queue.name} queue ${this.queue.queueDepth}, ${this.queue.workers} worker${this.queue.workers === 1 ? "" : "s"}`,
        )
      : "";
    return `  orders: ${parts.join(" · ")}${queue}`;
  }

  /** Something wrong with the demo itself, in red above the live status. */
  warn(text: string): void {
    this.line(this.context.out.red(text));
  }

  /** A line above the live status, which is redrawn below it. */
  private line(text: string): void {
    if (this.isLive && this.statusShown) {
      this.context.terminal.stdout.write(`\r\u001b[2K${text}\n${this.status()}`);
    } else {
      this.context.print(text);
    }
  }
}
