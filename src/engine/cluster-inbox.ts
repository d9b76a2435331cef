import type { Clock, Logger } from "../common/index.js";
import type { Store, StoreNotification } from "../store/index.js";
import type { EndWaiters } from "./end-waiters.js";
import type { RunRegistry } from "./run-registry.js";
import type { TaskQueue } from "./task-queue.js";
import type { WakeScheduler } from "./wake-scheduler.js";

/** How long a run may stay due before the cluster's catch-up scan looks at it. */
const CATCH_UP_GRACE_MS = 1_000;
const CATCH_UP_BATCH = 500;

/**
 * News from other nodes (or a store trigger) reaching this one: a run to look at, tasks to hand
 * out, a run's end for callers awaiting it — and the catch-up scan for news that was lost.
 */
export class ClusterInbox {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly runs: RunRegistry,
    private readonly tasks: TaskQueue,
    private readonly scheduler: WakeScheduler,
    private readonly endWaiters: EndWaiters,
    private readonly services: () => string[],
    private readonly nodeId: string,
  ) {}

  onNotification(notification: StoreNotification): void {
    if (notification.channel === "tasks") {
      this.tasks.notify([notification.service]);
      return;
    }
    if (notification.channel === "resync") {
      // Wake-ups may have been missed: look for due runs, queued tasks and ended runs again.
      this.scheduler.note(this.clock.now());
      this.tasks.notify(this.services());
      for (const runId of this.endWaiters.awaited()) this.endWaiters.checkEnded(runId);
      return;
    }
    const runId = notification.runId;
    if (notification.ended) {
      // Nothing to resume; only callers awaiting its result here want to know.
      if (this.endWaiters.isAwaited(runId)) this.endWaiters.checkEnded(runId);
      return;
    }
    const run = this.runs.get(runId);
    if (run) {
      this.refresh(runId);
      return;
    }
    if (this.endWaiters.isAwaited(runId)) this.endWaiters.checkEnded(runId);
    void this.runs.activate(runId);
  }

  async catchUp(): Promise<void> {
    // Due for longer than a moment: a live owner would have woken it on the notification.
    const due = await this.store.findDueRuns(
      this.clock.now() - CATCH_UP_GRACE_MS,
      CATCH_UP_BATCH,
      this.nodeId,
    );
    for (const { runId } of due) {
      if (this.runs.get(runId)) this.refresh(runId);
      else if (!this.runs.isActivating(runId)) void this.runs.activate(runId);
    }
  }

  private refresh(runId: string): void {
    this.runs
      .get(runId)
      ?.refresh()
      .catch((e: unknown) => this.logger.warn({ runId, err: e }, "could not refresh run"));
  }
}
