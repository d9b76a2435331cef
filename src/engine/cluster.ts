import { BatonError, newUuid, type Clock, type Logger, type TimerHandle } from "../common/index.js";
import type { NodeRenewal, Store, StoreNotification } from "../store/index.js";

export interface ClusterOptions {
  /** This node's name; stable across restarts so a restarted node takes its own runs back at once. */
  nodeId: string;
  /** How long a node keeps its runs without renewing (default 10 s). */
  leaseMs?: number;
  /** How often to look for runs that no live node holds (default half the lease). */
  scanMs?: number;
  /**
   * Milliseconds from a monotonic source (default `performance.now()`): how long this node may
   * still act on its lease is measured with it, so a wall-clock step (NTP, an operator) can
   * neither stretch nor cut the lease.
   */
  monotonicNow?: () => number;
  /** This process's id under the node id (default a random UUID): see Store.renewNode. */
  instance?: string;
}

export interface ClusterHooks {
  /** Runs that no live node holds: acquire and resume them. */
  adopt(runIds: string[]): void;
  /** The lease lapsed: other nodes may own our runs now; drop everything in memory. */
  lostLease(): void;
  /** Another node (or this one) has news for a run or a service. */
  notified(notification: StoreNotification): void;
  /**
   * The safety net under notifications (lost, or unsupported by the database): look for runs
   * marked due by another node — a signal, a worker's reply — and wake them.
   */
  catchUp(): Promise<void>;
}

/**
 * This node's membership of a cluster sharing one database: it renews the node's lease, knows
 * whether the lease still holds (a node must not start work it may no longer own), takes over
 * the runs of dead nodes, and listens for other nodes' wake-ups.
 */
export class ClusterMembership {
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly instance: string;
  private readonly scanMs: number;
  private readonly monotonicNow: () => number;
  /** Until when (monotonic ms) this node may act on its lease; 0 before the first renewal. */
  private validUntil = 0;
  /** The lease ran out and the runs in memory were dropped; set until the next renewal. */
  private lapsed = false;
  private renewTimer: TimerHandle | undefined;
  private scanTimer: TimerHandle | undefined;
  private lapseTimer: TimerHandle | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private stopped = false;

  constructor(
    options: ClusterOptions,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly hooks: ClusterHooks,
  ) {
    this.nodeId = options.nodeId;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.scanMs = options.scanMs ?? Math.max(100, Math.floor(this.leaseMs / 2));
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.instance = options.instance ?? newUuid();
  }

  /**
   * Joins: takes the lease, subscribes to wake-ups, starts renewing and scanning. Throws
   * NODE_ID_IN_USE if another live process holds the node id.
   */
  async join(): Promise<void> {
    await this.takeNodeId();
    if (this.store.subscribe)
      this.unsubscribe = await this.store.subscribe((n) => this.hooks.notified(n));
    this.scheduleRenewal();
    this.scheduleScan();
  }

  /** Whether this node may still act on its runs: its lease has not run out. */
  holdsLease(): boolean {
    return this.monotonicNow() < this.validUntil;
  }

  /**
   * The first renewal. Another process holding the node id may be alive, or may have died (a
   * supervisor restarting a killed node at once): a dead one's lease lapses within one lease of
   * the first refusal, a live one keeps renewing. So refusals are tried again for one lease
   * (and a little), then it is NODE_ID_IN_USE.
   */
  private async takeNodeId(): Promise<void> {
    const firstAt = this.monotonicNow();
    const retryMs = Math.max(50, Math.min(500, Math.floor(this.leaseMs / 4)));
    for (;;) {
      const renewal = await this.renew();
      if (renewal.outcome === "renewed") return;
      if (this.monotonicNow() - firstAt > this.leaseMs + retryMs) {
        throw new BatonError(
          "NODE_ID_IN_USE",
          `node id ${this.nodeId} is in use: another live process (instance ${renewal.instance ?? "unknown"}) ` +
            `kept renewing its lease for ${this.leaseMs} ms; stop that process or start this one with another node id`,
          { details: { nodeId: this.nodeId, instance: renewal.instance } },
        );
      }
      await new Promise<void>((resolve) => this.clock.setTimer(retryMs, resolve));
    }
  }

  async leave(): Promise<void> {
    this.stopped = true;
    this.renewTimer?.cancel();
    this.scanTimer?.cancel();
    this.lapseTimer?.cancel();
    await this.unsubscribe?.();
  }

  /** Runs to resume when this node starts: its own included. */
  findOwnAndOrphaned(): Promise<string[]> {
    return this.store.findOrphanedRuns({
      now: this.clock.now(),
      nodeId: this.nodeId,
      includeOwn: true,
      limit: 100_000,
    });
  }

  private async renew(): Promise<NodeRenewal> {
    // A pause (GC, SIGSTOP, an overloaded host) may have let the lease run out: act on it before
    // anything else, from the local clock, without waiting for the database's answer.
    this.noticeLapse();
    // The lease counts from when the renewal was sent, not when it was answered, on the
    // monotonic clock; the store counts it on its own clock (the database's, on PostgreSQL),
    // which starts no earlier, so the store never thinks this node alive while it thinks not.
    const sentAt = this.monotonicNow();
    const renewal = await this.store.renewNode(
      this.nodeId,
      this.clock.now(),
      this.leaseMs,
      this.instance,
    );
    this.noticeLapse(); // the renewal itself took longer than the lease
    if (renewal.outcome === "in_use") {
      // Another process took the node id over (this one's lease lapsed, then it started): it
      // owns the node's runs now. Act on nothing until the node id is ours again.
      if (this.validUntil !== 0 && !this.lapsed) {
        this.logger.error(
          {
            nodeId: this.nodeId,
            instance: this.instance,
            holder: renewal.instance,
            code: "NODE_ID_IN_USE",
          },
          "another process holds this node id; executing nothing",
        );
        this.validUntil = Math.min(this.validUntil, this.monotonicNow());
        this.noticeLapse();
      }
      return renewal;
    }
    this.validUntil = sentAt + this.leaseMs;
    this.armLapseCheck();
    if (!this.lapsed) return renewal;
    this.lapsed = false;
    // Runs of ours that no other node took over meanwhile would otherwise wait forever.
    const runIds = await this.findOwnAndOrphaned();
    if (runIds.length && this.holdsLease()) this.hooks.adopt(runIds);
    return renewal;
  }

  /**
   * The lapse is noticed on its own timer too: a renewal stuck on a database that stopped
   * answering must not keep this node acting on runs another node may have taken over.
   */
  private armLapseCheck(): void {
    this.lapseTimer?.cancel();
    if (this.stopped) return;
    this.lapseTimer = this.clock.setTimer(this.validUntil - this.monotonicNow(), () => {
      this.lapseTimer = undefined;
      this.noticeLapse();
    });
  }

  private noticeLapse(): void {
    if (this.validUntil === 0 || this.lapsed || this.monotonicNow() < this.validUntil) return;
    this.lapsed = true;
    this.logger.warn(
      { nodeId: this.nodeId },
      "lease lapsed (a pause or a partition); dropping runs held in memory",
    );
    this.hooks.lostLease();
  }

  private scheduleRenewal(): void {
    if (this.stopped) return;
    this.renewTimer = this.clock.setTimer(Math.floor(this.leaseMs / 3), () => {
      this.renew()
        .catch((e: unknown) =>
          this.logger.error({ err: e, nodeId: this.nodeId }, "could not renew the node's lease"),
        )
        .finally(() => this.scheduleRenewal());
    });
  }

  private scheduleScan(): void {
    if (this.stopped) return;
    this.scanTimer = this.clock.setTimer(this.scanMs, () => {
      this.store
        .findOrphanedRuns({
          now: this.clock.now(),
          nodeId: this.nodeId,
          includeOwn: false,
          limit: 1000,
        })
        .then(async (runIds) => {
          if (!this.holdsLease()) return;
          if (runIds.length) this.hooks.adopt(runIds);
          await this.hooks.catchUp();
        })
        .catch((e: unknown) => this.logger.error({ err: e }, "could not look for orphaned runs"))
        .finally(() => this.scheduleScan());
    });
  }
}
