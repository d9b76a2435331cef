import type { Clock, Logger, TimerHandle } from "../common/index.js";
import type { Store } from "../store/index.js";
import { nextSweepAt } from "./retention.js";

export interface RetentionSweeperOptions {
  /** Runs deleted per transaction (default 500). */
  batchSize?: number;
  /** How long to wait before looking again at runs due that could not go yet (default 1 min). */
  recheckMs?: number;
  /**
   * Several nodes: how often to look even when no run this node knows of expires (another node's
   * runs may, and that node may be gone). Absent on a single node: it never looks in vain.
   */
  idleRecheckMs?: number;
}

/** Longest pause between two full batches: the sweeper takes at most about half the writer. */
const MAX_PAUSE_MS = 100;

/**
 * Deletes terminal runs past their retention, on every node (the store makes concurrent sweeps
 * safe), in short batches with a pause between them so that runs in flight keep committing. It
 * sleeps until the earliest `deleteAfter` it knows of: the store's at start, and each run's that
 * ends on this node.
 */
export class RetentionSweeper {
  private readonly batchSize: number;
  private readonly recheckMs: number;
  private readonly idleRecheckMs: number | undefined;
  private timer: TimerHandle | undefined;
  private timerAt: number | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;
  /** The earliest expiry noted while a sweep ran: armed once it ends. */
  private notedDuringSweep: number | undefined;
  /** Rows deleted since this process started, by table (the runs table included). */
  readonly deleted = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    options: RetentionSweeperOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.recheckMs = options.recheckMs ?? 60_000;
    this.idleRecheckMs = options.idleRecheckMs;
  }

  /** Reads the earliest expiry in the store and arms the sweep for it. */
  async start(): Promise<void> {
    const next = nextSweepAt({
      now: this.clock.now(),
      batchWasFull: false,
      nextExpiry: await this.store.nextRunExpiry(),
      recheckMs: 0, // due now: sweep at once
      ...(this.idleRecheckMs !== undefined ? { idleRecheckMs: this.idleRecheckMs } : {}),
    });
    this.note(next ?? null);
  }

  /** A run may be deleted from `at` on (null: never): sweep then, unless a sweep comes sooner. */
  note(at: number | null): void {
    if (at === null || this.closed) return;
    if (this.sweeping) {
      this.notedDuringSweep = Math.min(this.notedDuringSweep ?? at, at);
      return;
    }
    if (this.timerAt !== undefined && this.timerAt <= at) return;
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.timer = undefined;
      this.timerAt = undefined;
      void this.launch(); // sweep() settles every error itself
    });
  }

  /** Sweeps now and resolves when nothing more is due (tests, operators). */
  async sweepNow(): Promise<void> {
    await this.sweeping;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = undefined;
    await this.launch();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    await this.sweeping;
  }

  private launch(): Promise<void> {
    const sweeping: Promise<void> = this.sweep().finally(() => {
      if (this.sweeping === sweeping) this.sweeping = undefined;
    });
    this.sweeping = sweeping;
    return sweeping;
  }

  private async sweep(): Promise<void> {
    let runs = 0;
    let batches = 0;
    let next: number | undefined;
    try {
      for (;;) {
        const started = this.clock.now();
        const batch = await this.store.deleteExpiredRuns(started, this.batchSize);
        runs += batch.runs;
        for (const [table, count] of Object.entries(batch.rows)) {
          this.deleted.set(table, (this.deleted.get(table) ?? 0) + count);
        }
        const now = this.clock.now();
        const batchWasFull = batch.runs >= this.batchSize;
        next = nextSweepAt({
          now,
          batchWasFull,
          nextExpiry: batchWasFull ? undefined : await this.store.nextRunExpiry(),
          recheckMs: this.recheckMs,
          ...(this.idleRecheckMs !== undefined ? { idleRecheckMs: this.idleRecheckMs } : {}),
        });
        if (this.closed || next !== now) break;
        if (++batches % 20 === 0) {
          this.logger.info({ runs }, "retention: deleting expired runs");
        }
        // Yield the store between batches: on SQLite (one writer) the group commits of runs in
        // flight go in between; a pause as long as the batch took bounds the sweeper's share.
        const pause = Math.min(MAX_PAUSE_MS, Math.max(0, now - started));
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    } catch (e) {
      // A store fault ends this sweep, never the process: the next one retries.
      this.logger.warn(
        { err: e, runs },
        "retention: could not delete expired runs; retrying later",
      );
      next = this.clock.now() + this.recheckMs;
    }
    if (runs > 0) this.logger.info({ runs }, "retention: deleted expired runs");
    this.sweeping = undefined;
    const noted = this.notedDuringSweep;
    this.notedDuringSweep = undefined;
    if (next !== undefined) this.note(next);
    if (noted !== undefined) this.note(noted);
  }
}
