import type { ServiceActivity, WorkerSighting } from "../store/index.js";

/** What one service's figures add up to, as the services view and a queue wait show them. */
export interface ServiceFigures {
  workers: number;
  completed: number;
  failures: number;
  /** Direct calls under way (a queue's in-flight count comes from its tasks instead). */
  inFlight: number;
  latencyMs: { p50: number | null; p95: number | null };
}

/** Latencies a node shares per service: enough for p95, small enough to rewrite every second. */
const SHARED_SAMPLES = 200;

interface Outcomes {
  completed: number;
  failures: number;
  /** Counted since the last drain: what the next flush adds to the store's counters. */
  completedUnsaved: number;
  failuresUnsaved: number;
  latencies: number[];
  next: number;
  isDirty: boolean;
}

/**
 * Recent call outcomes and workers per service, as this process saw them. The hot path (a call
 * ending, a worker polling) only touches memory; with several nodes, `drain` hands what changed
 * to a periodic flush into the store (see SharedServiceView).
 */
export class ServiceStats {
  private readonly byService = new Map<string, Outcomes>();
  /** service → worker id → last poll. */
  private readonly workers = new Map<string, Map<string, number>>();
  /** service → worker id → the sighting last handed to a flush. */
  private readonly workersSaved = new Map<string, Map<string, number>>();
  private readonly calling = new Map<string, number>();
  private readonly callingSaved = new Map<string, number>();

  constructor(
    private readonly window = 1000,
    readonly workerTtlMs = 30_000,
  ) {}

  /** A direct call started (+1) or ended (-1). */
  trackInFlight(service: string, delta: number): void {
    this.calling.set(service, (this.calling.get(service) ?? 0) + delta);
  }

  inFlight(service: string): number {
    return this.calling.get(service) ?? 0;
  }

  record(service: string, ok: boolean, latencyMs: number): void {
    let stats = this.byService.get(service);
    if (!stats) {
      stats = {
        completed: 0,
        failures: 0,
        completedUnsaved: 0,
        failuresUnsaved: 0,
        latencies: [],
        next: 0,
        isDirty: false,
      };
      this.byService.set(service, stats);
    }
    if (ok) {
      stats.completed++;
      stats.completedUnsaved++;
    } else {
      stats.failures++;
      stats.failuresUnsaved++;
    }
    stats.isDirty = true;
    // A ring of the last `window` latencies: bounded memory, recent percentiles.
    if (stats.latencies.length < this.window) stats.latencies.push(latencyMs);
    else stats.latencies[stats.next] = latencyMs;
    stats.next = (stats.next + 1) % this.window;
  }

  /** A worker polled: it counts as connected for the next 30 s. */
  sawWorker(service: string, workerId: string, now: number): void {
    let seen = this.workers.get(service);
    if (!seen) {
      seen = new Map();
      this.workers.set(service, seen);
    }
    seen.set(workerId, now);
  }

  /** Workers of the service that polled this process within the last 30 s. */
  workerIds(service: string, now: number): string[] {
    const seen = this.workers.get(service);
    if (!seen) return [];
    for (const [id, at] of seen) if (now - at > this.workerTtlMs) seen.delete(id);
    return [...seen.keys()];
  }

  workerCount(service: string, now: number): number {
    return this.workerIds(service, now).length;
  }

  /** The latest latencies of the service, unordered. */
  latencies(service: string): readonly number[] {
    return this.byService.get(service)?.latencies ?? [];
  }

  /** Completions and failures counted here and not yet handed to a flush. */
  unsaved(service: string): { completed: number; failures: number } {
    const stats = this.byService.get(service);
    return { completed: stats?.completedUnsaved ?? 0, failures: stats?.failuresUnsaved ?? 0 };
  }

  services(): string[] {
    return [...new Set([...this.byService.keys(), ...this.calling.keys()])];
  }

  summary(service: string): Omit<ServiceFigures, "workers" | "inFlight"> {
    const stats = this.byService.get(service);
    return {
      completed: stats?.completed ?? 0,
      failures: stats?.failures ?? 0,
      latencyMs: percentiles(stats?.latencies ?? []),
    };
  }

  /**
   * What changed since the last drain, for one flush: call counts added since, the latest
   * latencies and in-flight count of each service that changed, and workers first seen or not
   * handed over for `workerEveryMs` (a busy poller costs one write per that long, not per poll).
   * Counted as handed over at once: a flush that fails loses those counts, never doubles them.
   */
  drain(
    nodeId: string,
    now: number,
    workerEveryMs: number,
  ): Pick<ServiceActivity, "workers" | "calls"> {
    const calls: ServiceActivity["calls"][number][] = [];
    for (const [service, stats] of this.byService) {
      const inFlight = this.inFlight(service);
      // Calls under way are written on every flush: a row not rewritten for a while is read as a
      // node gone, whose calls no longer count.
      if (!stats.isDirty && inFlight === 0 && (this.callingSaved.get(service) ?? 0) === 0) continue;
      calls.push({
        service,
        completed: stats.completedUnsaved,
        failures: stats.failuresUnsaved,
        inFlight,
        latencies: stats.latencies.slice(0, SHARED_SAMPLES),
      });
      stats.completedUnsaved = 0;
      stats.failuresUnsaved = 0;
      stats.isDirty = false;
      this.callingSaved.set(service, inFlight);
    }
    for (const [service, inFlight] of this.calling) {
      if (this.byService.has(service) || (inFlight === 0 && !this.callingSaved.get(service)))
        continue;
      calls.push({ service, completed: 0, failures: 0, inFlight, latencies: [] });
      this.callingSaved.set(service, inFlight);
    }
    const workers: WorkerSighting[] = [];
    for (const [service, seen] of this.workers) {
      let saved = this.workersSaved.get(service);
      if (!saved) {
        saved = new Map();
        this.workersSaved.set(service, saved);
      }
      for (const [workerId, lastSeenAt] of seen) {
        const savedAt = saved.get(workerId);
        if (savedAt !== undefined && lastSeenAt - savedAt < workerEveryMs) continue;
        workers.push({ service, workerId, nodeId, lastSeenAt });
        saved.set(workerId, lastSeenAt);
      }
      for (const [workerId, savedAt] of saved)
        if (now - savedAt > this.workerTtlMs && !seen.has(workerId)) saved.delete(workerId);
    }
    return { workers, calls };
  }
}

/** p50 and p95 of the samples (nearest rank), null without any. */
export function percentiles(samples: readonly number[]): ServiceFigures["latencyMs"] {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number | null =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null;
  return { p50: at(0.5), p95: at(0.95) };
}
