import { isTerminal, toBatonError, type Run } from "../common/index.js";
import type { Engine } from "../engine/index.js";
import type { EventHub } from "./event-hub.js";

export interface FollowOptions {
  /** Stops following; the promise then resolves with the last state read. */
  signal: AbortSignal;
  /**
   * How often the run is read again without an event. Events wake the follower at once;
   * this catches what publishes none: a change made by another node sharing the database,
   * and transitions such as running → waiting that the engine does not announce.
   */
  refreshMs: number;
  /** Called with the current state first, then after every change, in order. */
  onChange?: (run: Run) => void;
}

/**
 * Follows one run until it is terminal or `signal` aborts, and resolves with the last state
 * read (undefined if aborted before the first read). Rejects if the run cannot be read, e.g.
 * RUN_NOT_FOUND.
 *
 * Reads are serialised and coalesced: a burst of events while a read is in flight causes one
 * more read, not one per event, and states are reported in the order they were read. A state
 * is reported only if it differs from the previous one, so the periodic refresh never repeats
 * an unchanged run.
 */
export function followRun(
  engine: Engine,
  hub: EventHub,
  runId: string,
  options: FollowOptions,
): Promise<Run | undefined> {
  const { signal, refreshMs, onChange } = options;
  return new Promise((resolve, reject) => {
    let last: Run | undefined;
    let lastJson = "";
    let isReading = false;
    let isStale = true;
    let isDone = false;

    const finish = (error?: unknown): void => {
      if (isDone) return;
      isDone = true;
      stopListening();
      clearInterval(timer);
      signal.removeEventListener("abort", onAbort);
      if (error === undefined) resolve(last);
      else reject(error instanceof Error ? error : toBatonError(error));
    };
    const read = async (): Promise<void> => {
      isReading = true;
      try {
        while (isStale && !isDone) {
          isStale = false;
          const run = await engine.get(runId);
          if (isDone) return;
          const json = JSON.stringify(run);
          if (json !== lastJson) {
            lastJson = json;
            last = run;
            onChange?.(run);
          }
          if (isTerminal(run.status)) finish();
        }
      } catch (e) {
        finish(e);
      } finally {
        isReading = false;
      }
    };
    const refresh = (): void => {
      isStale = true;
      if (!isReading) void read();
    };
    const onAbort = (): void => finish();

    // Listen before the first read, so a change that lands in between is not missed.
    const stopListening = hub.onRun(runId, refresh);
    const timer = setInterval(refresh, refreshMs);
    if (signal.aborted) finish();
    else {
      signal.addEventListener("abort", onAbort, { once: true });
      refresh();
    }
  });
}
