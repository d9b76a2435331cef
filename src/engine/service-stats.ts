/** Recent call outcomes per service, for the services view (this process's own view). */
export class ServiceStats {
  private readonly byService = new Map<
    string,
    { completed: number; failures: number; latencies: number[]; next: number }
  >();
  private readonly workers = new Map<string, Map<string, number>>();

  constructor(
    private readonly window = 1000,
    private readonly workerTtlMs = 30_000,
  ) {}

  private readonly calling = new Map<string, number>();

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
      stats = { completed: 0, failures: 0, latencies: [], next: 0 };
      this.byService.set(service, stats);
    }
    if (ok) stats.completed++;
    else stats.failures++;
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

  workerCount(service: string, now: number): number {
    const seen = this.workers.get(service);
    if (!seen) return 0;
    for (const [id, at] of seen) if (now - at > this.workerTtlMs) seen.delete(id);
    return seen.size;
  }

  summary(service: string): {
    completed: number;
    failures: number;
    latencyMs: { p50: number | null; p95: number | null };
  } {
    const stats = this.byService.get(service);
    if (!stats) return { completed: 0, failures: 0, latencyMs: { p50: null, p95: null } };
    const sorted = [...stats.latencies].sort((a, b) => a - b);
    const at = (q: number): number | null =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null;
    return {
      completed: stats.completed,
      failures: stats.failures,
      latencyMs: { p50: at(0.5), p95: at(0.95) },
    };
  }
}
