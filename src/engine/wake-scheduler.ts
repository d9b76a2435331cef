import type { Clock, Logger, TimerHandle } from "../common/index.js";
import type { Store } from "../store/index.js";

const DUE_BATCH = 500;
/** How soon to look again when every due run is already in memory (it wakes itself). */
const RESIDENT_RECHECK_MS = 250;

/**
 * Wakes runs that are not in memory when their time comes (a timer, a retry, a signal
 * timeout). One clock timer for the earliest wake-up, no polling loop: evicting a run tells
 * the scheduler its wake-up time; the store's `wake_at` column is the durable truth.
 */
export class WakeScheduler {
  private timer: TimerHandle | undefined;
  private armedAt: number | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly isResident: (runId: string) => boolean,
    private readonly activate: (runId: string) => void,
    /** In a cluster: this node, so it only looks at runs it may wake (unowned or its own). */
    private readonly nodeId?: string,
  ) {}

  /** A run left memory and must be woken at `wakeAt`. */
  note(wakeAt: number | null): void {
    if (wakeAt === null || this.stopped) return;
    if (this.armedAt === undefined || wakeAt < this.armedAt) this.arm(wakeAt);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private arm(at: number): void {
    this.timer?.cancel();
    this.armedAt = at;
    this.timer = this.clock.setTimer(at - this.clock.now(), () => {
      this.armedAt = undefined;
      this.timer = undefined;
      this.fire().catch((e: unknown) => {
        this.logger.error({ err: e }, "wake-up scan failed; retrying in 1 s");
        this.note(this.clock.now() + 1000);
      });
    });
  }

  private async fire(): Promise<void> {
    if (this.stopped) return;
    const now = this.clock.now();
    const due = await this.store.findDueRuns(now, DUE_BATCH, this.nodeId);
    let activated = 0;
    for (const { runId } of due) {
      if (this.isResident(runId)) continue;
      this.activate(runId);
      activated++;
    }
    // A full batch: there may be more. Look again at once if this one woke something, else a
    // little later (every run in it was in memory and wakes itself): no busy loop over them.
    if (due.length === DUE_BATCH) return this.note(activated > 0 ? now : now + RESIDENT_RECHECK_MS);
    const next = await this.store.nextWakeAt(this.nodeId);
    if (next === undefined) return;
    // Due runs that are all in memory wake themselves; look again a little later, not in a loop.
    this.note(next <= now ? now + RESIDENT_RECHECK_MS : next);
  }
}
