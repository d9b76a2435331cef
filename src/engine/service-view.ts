import type { Clock, Logger, TimerHandle } from "../common/index.js";
import type { Store } from "../store/index.js";
import { percentiles, type ServiceFigures, type ServiceStats } from "./service-stats.js";

/** The figures the services view and a queue wait show, per service. */
export interface ServiceView {
  /** Reads once (at most one store read) and answers for any service. */
  read(): Promise<(service: string) => ServiceFigures>;
}

/** One node: this process saw every call and every poll. */
export class LocalServiceView implements ServiceView {
  constructor(
    private readonly stats: ServiceStats,
    private readonly clock: Clock,
  ) {}

  read(): Promise<(service: string) => ServiceFigures> {
    const now = this.clock.now();
    return Promise.resolve((service) => ({
      ...this.stats.summary(service),
      workers: this.stats.workerCount(service, now),
      inFlight: this.stats.inFlight(service),
    }));
  }
}

export interface SharedServiceViewOptions {
  /** How often this node writes what changed (default 1 s). */
  flushMs?: number;
  /** A worker that keeps polling is written at most this often (default 5 s). */
  workerEveryMs?: number;
  /** Another node's in-flight count older than this is a node gone (default 10 s). */
  staleMs?: number;
}

/**
 * Several nodes: every node answers alike. Each node keeps its figures in memory (the hot path
 * writes nothing) and flushes what changed to the store every second; a read adds up every node's
 * rows, with this node's own figures taken from memory (they are newer than its row). Workers
 * polling any node count on every node; a worker's poll is written at most every few seconds.
 */
export class SharedServiceView implements ServiceView {
  private readonly flushMs: number;
  private readonly workerEveryMs: number;
  private readonly staleMs: number;
  private timer: TimerHandle | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly stats: ServiceStats,
    private readonly nodeId: string,
    options: SharedServiceViewOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 1_000;
    this.workerEveryMs = options.workerEveryMs ?? 5_000;
    this.staleMs = options.staleMs ?? 10_000;
  }

  start(): void {
    this.schedule();
  }

  /** Stops flushing, after one last flush of what changed (its failure is logged). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.flushing;
    await this.flush();
  }

  async read(): Promise<(service: string) => ServiceFigures> {
    const now = this.clock.now();
    const { workers, calls } = await this.store.readServiceActivity(now - this.stats.workerTtlMs);
    return (service) => {
      const workerIds = new Set(this.stats.workerIds(service, now));
      for (const w of workers) if (w.service === service) workerIds.add(w.workerId);
      const own = this.stats.unsaved(service);
      let completed = own.completed;
      let failures = own.failures;
      let inFlight = this.stats.inFlight(service);
      const samples = [...this.stats.latencies(service)];
      for (const row of calls) {
        if (row.service !== service) continue;
        // Counters: every row, this node's included (what it flushed; `own` is the rest).
        completed += row.completed;
        failures += row.failures;
        if (row.nodeId === this.nodeId) continue;
        samples.push(...row.latencies);
        if (now - row.updatedAt <= this.staleMs) inFlight += row.inFlight;
      }
      return {
        workers: workerIds.size,
        completed,
        failures,
        inFlight,
        latencyMs: percentiles(samples),
      };
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(this.flushMs, () => {
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        this.schedule();
      });
    });
  }

  /** Never rejects: a failed flush is logged, and what it carried is not counted twice. */
  private async flush(): Promise<void> {
    const now = this.clock.now();
    const { workers, calls } = this.stats.drain(this.nodeId, now, this.workerEveryMs);
    if (workers.length === 0 && calls.length === 0) return;
    try {
      await this.store.saveServiceActivity({
        nodeId: this.nodeId,
        now,
        workers,
        calls,
        // Long gone workers leave the table: a day unseen.
        pruneBefore: now - 86_400_000,
      });
    } catch (e) {
      this.logger.warn({ err: e, nodeId: this.nodeId }, "could not save the services' activity");
    }
  }
}
