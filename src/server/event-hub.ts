import type { BatonEvent, Logger } from "../common/index.js";
import type { Engine } from "../engine/index.js";

type Listener = (event: BatonEvent) => void;

/**
 * One subscription to the engine's live events per server, fanned out to the streams and
 * waits that care: listeners of one run are found by its id, so a thousand open run streams
 * cost one map lookup per event rather than a thousand filter calls inside the engine's
 * commit path. Listeners only note the event and return; reading happens elsewhere.
 */
export class EventHub {
  private readonly byRun = new Map<string, Set<Listener>>();
  private readonly everyEvent = new Set<Listener>();
  private readonly unsubscribe: () => void;

  constructor(
    engine: Engine,
    private readonly logger: Logger,
  ) {
    this.unsubscribe = engine.on((event) => this.dispatch(event));
  }

  /** Calls `listener` with every event of this run; returns the unsubscribe function. */
  onRun(runId: string, listener: Listener): () => void {
    let listeners = this.byRun.get(runId);
    if (!listeners) {
      listeners = new Set();
      this.byRun.set(runId, listeners);
    }
    listeners.add(listener);
    return () => {
      const current = this.byRun.get(runId);
      current?.delete(listener);
      if (current?.size === 0) this.byRun.delete(runId);
    };
  }

  /** Calls `listener` with every event; returns the unsubscribe function. */
  onEvery(listener: Listener): () => void {
    this.everyEvent.add(listener);
    return () => this.everyEvent.delete(listener);
  }

  close(): void {
    this.unsubscribe();
    this.byRun.clear();
    this.everyEvent.clear();
  }

  private dispatch(event: BatonEvent): void {
    const forRun = event.runId === undefined ? undefined : this.byRun.get(event.runId);
    for (const listener of [...(forRun ?? []), ...this.everyEvent]) {
      try {
        listener(event);
      } catch (e) {
        // One broken stream must not starve the others of the event.
        this.logger.error(
          { err: e, runId: event.runId, event: event.type },
          "event listener threw",
        );
      }
    }
  }
}
