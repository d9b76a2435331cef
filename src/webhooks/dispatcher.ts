import type { Clock, Logger, TimerHandle } from "../common/index.js";
import type { AttemptOutcome, ClaimedDelivery, Store, SubscriptionRecord } from "../store/index.js";
import { planDeliveries, readFrom } from "./fan-out.js";
import {
  decideAfterAttempt,
  type AttemptDecision,
  type AttemptResult,
  type WebhookRetryPolicy,
} from "./retry-schedule.js";
import { toWebhookEvent } from "./webhook-event.js";
import type { SendWebhook } from "./webhook-sender.js";

/** Events read from the log per fan-out step. */
const PAGE = 500;
/** How often delivered deliveries past their retention are removed, and how many at a time. */
const PRUNE_EVERY_MS = 3_600_000;
const PRUNE_BATCH = 1_000;

export interface DispatcherSettings {
  pollMs: number;
  /** Delivered deliveries (and their attempts) older than this are removed, hourly. */
  retentionMs: number;
  leaseMs: number;
  maxInFlight: number;
  perSubscription: number;
  retry: Required<WebhookRetryPolicy>;
  random: () => number;
  send: SendWebhook;
  /**
   * Told when this node goes from knowing no subscription to knowing some, and back: live events
   * are worth hearing only while there are subscriptions (listening costs every run's commits).
   */
  onSubscriptionsPresent?: (present: boolean) => void;
}

/** One finished attempt, for metrics. */
export interface AttemptReport {
  subscriptionId: string;
  outcome: "delivered" | "failed";
  durationMs: number;
}

/**
 * Follows the durable event log into deliveries and sends them, on every node. Three things wake
 * it: the engine's live events (this node committed something), a poll every `pollMs` (other
 * nodes' events, new subscriptions, retries and lapsed leases of a crashed sender), and a timer at
 * the earliest known next attempt. Nothing here runs inside a run's commit: the listener only
 * notes that there is news. Sends run side by side, at most `perSubscription` per subscription, so
 * a slow or dead receiver holds back only itself. A store error is logged and tried again on the
 * next wake; it never ends the process.
 */
export class WebhookDispatcher {
  private subscriptions: SubscriptionRecord[] = [];
  private readonly inFlight = new Map<string, number>();
  private inFlightTotal = 0;
  private readonly sends = new Set<Promise<void>>();
  private readonly stopSending = new AbortController();
  private readonly reportListeners = new Set<(report: AttemptReport) => void>();
  private isPumping = false;
  private pumpAgain = false;
  private refreshFirst = false;
  private isStarted = false;
  private isWakeScheduled = false;
  private isClosed = false;
  private pollTimer: TimerHandle | undefined;
  private prunedAt = -Infinity;
  private readonly outcomes: Array<{
    outcome: AttemptOutcome;
    resolve: (result: "recorded" | "lost") => void;
    reject: (error: unknown) => void;
  }> = [];
  private isRecording = false;
  private nextAttemptTimer: { at: number; handle: TimerHandle } | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: DispatcherSettings,
  ) {}

  start(): void {
    this.isStarted = true;
    this.poll();
  }

  /**
   * There may be new events (a live event of this node). Called inside the engine's emit: the
   * look at the store happens on a later turn, so a run's commit never waits on it.
   */
  wake(): void {
    if (this.subscriptions.length === 0 || this.isWakeScheduled || this.isClosed) return;
    this.isWakeScheduled = true;
    later(0, () => {
      this.isWakeScheduled = false;
      this.pump(false);
    });
  }

  /** Subscriptions changed on this node: read them again before anything else. */
  subscriptionsChanged(): void {
    this.pump(true);
  }

  onAttempt(listener: (report: AttemptReport) => void): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  /** Attempts under way on this node. */
  get sending(): number {
    return this.inFlightTotal;
  }

  /**
   * Stops waking up and cuts the attempts under way short: each is recorded as failed (and so
   * attempted again after its backoff, here or on another node) before this resolves.
   */
  async close(): Promise<void> {
    this.isClosed = true;
    this.pollTimer?.cancel();
    this.nextAttemptTimer?.handle.cancel();
    this.stopSending.abort();
    await Promise.allSettled([...this.sends]);
  }

  private setSubscriptions(subscriptions: SubscriptionRecord[]): void {
    const wasPresent = this.subscriptions.length > 0;
    this.subscriptions = subscriptions;
    const isPresent = subscriptions.length > 0;
    if (isPresent !== wasPresent) this.settings.onSubscriptionsPresent?.(isPresent);
  }

  private poll(): void {
    if (this.isClosed) return;
    this.pump(true);
    this.pollTimer = later(this.settings.pollMs, () => this.poll());
  }

  private pump(refresh: boolean): void {
    if (!this.isStarted) return;
    this.refreshFirst ||= refresh;
    if (this.isPumping) {
      this.pumpAgain = true;
      return;
    }
    this.isPumping = true;
    void this.drain().finally(() => {
      this.isPumping = false;
      // A wake that came after the drain's last look but before this: look again.
      if (this.pumpAgain && !this.isClosed) this.pump(false);
    });
  }

  private async drain(): Promise<void> {
    do {
      this.pumpAgain = false;
      if (this.isClosed) return;
      try {
        if (this.refreshFirst) {
          this.refreshFirst = false;
          this.setSubscriptions(await this.store.webhooks.listSubscriptions());
        }
        if (this.subscriptions.length === 0) continue;
        await this.fanOut();
        await this.claimAndSend();
        await this.armNextAttempt();
        await this.pruneNowAndThen();
      } catch (e) {
        this.logger.warn({ err: e }, "webhooks: could not read or write the store; trying again");
      }
    } while (this.pumpAgain);
  }

  /**
   * Turns the log past the cursor into deliveries, page by page. A fan-out refused (another node
   * moved the cursor, or a subscription this node had not seen) is planned again from a fresh
   * read of both.
   */
  private async fanOut(): Promise<void> {
    for (;;) {
      const cursor = await this.store.webhooks.readCursor();
      const from = readFrom(cursor, this.subscriptions);
      const records = await this.store.readEvents(from, PAGE);
      const last = records.at(-1);
      if (last === undefined) return;
      const deliveries = planDeliveries(
        records.map((record) => ({ position: record.position!, event: toWebhookEvent(record) })),
        this.subscriptions,
        this.clock.now(),
      );
      const isMoved = await this.store.webhooks.fanOut({
        fromEventId: cursor,
        toEventId: last.position!,
        deliveries,
        knownSubscriptions: this.subscriptions.map((s) => s.subscriptionId),
      });
      if (!isMoved) {
        this.setSubscriptions(await this.store.webhooks.listSubscriptions());
        if (this.subscriptions.length === 0) return;
        continue;
      }
      if (records.length < PAGE) return;
    }
  }

  private async claimAndSend(): Promise<void> {
    const room = this.settings.maxInFlight - this.inFlightTotal;
    if (room <= 0) return;
    const busy = [...this.inFlight]
      .filter(([, count]) => count >= this.settings.perSubscription)
      .map(([subscriptionId]) => subscriptionId);
    const claimed = await this.store.webhooks.claimDeliveries({
      now: this.clock.now(),
      limit: room,
      leaseMs: this.settings.leaseMs,
      perSubscription: this.settings.perSubscription,
      excludeSubscriptions: busy,
    });
    for (const delivery of claimed) this.startAttempt(delivery);
  }

  private startAttempt(delivery: ClaimedDelivery): void {
    const id = delivery.subscriptionId;
    this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    this.inFlightTotal += 1;
    const send = this.attempt(delivery).finally(() => {
      const left = (this.inFlight.get(id) ?? 1) - 1;
      if (left > 0) this.inFlight.set(id, left);
      else this.inFlight.delete(id);
      this.inFlightTotal -= 1;
      this.sends.delete(send);
      // Room for another attempt, and this one's next attempt to arm.
      this.pump(false);
    });
    this.sends.add(send);
  }

  /**
   * One attempt: sent, then its outcome recorded. The lease was committed before the request
   * left; a crash before the outcome is recorded leaves the lease to lapse, and the delivery is
   * attempted again with the same `webhook-id` (at least once; receivers drop the duplicate).
   */
  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const sentAt = this.clock.now();
    const result: AttemptResult = await this.settings.send(
      delivery,
      new Date(sentAt),
      this.stopSending.signal,
    );
    const durationMs = Math.max(0, this.clock.now() - sentAt);
    const decision: AttemptDecision = decideAfterAttempt(
      result,
      delivery.attempt,
      this.settings.retry,
      this.settings.random(),
    );
    const isDelivered = decision.kind === "delivered";
    try {
      const recorded = await this.record({
        subscriptionId: delivery.subscriptionId,
        eventId: delivery.eventId,
        eventKey: delivery.eventKey,
        attempt: delivery.attempt,
        at: sentAt,
        durationMs,
        statusCode: result.kind === "answered" ? result.statusCode : null,
        error: decision.kind === "retry" ? decision.error : null,
        nextAttemptAt: decision.kind === "retry" ? sentAt + durationMs + decision.delayMs : null,
        leaseToken: delivery.leaseToken,
      });
      if (recorded === "lost" && !isDelivered) {
        this.logger.warn(
          { subscriptionId: delivery.subscriptionId, eventId: delivery.eventKey },
          "webhooks: a delivery's lease lapsed during its attempt; another sender has it",
        );
      }
    } catch (e) {
      // The lease lapses and the delivery is attempted again: at least once, never lost.
      this.logger.warn(
        { err: e, subscriptionId: delivery.subscriptionId, eventId: delivery.eventKey },
        "webhooks: could not record an attempt; it will be made again",
      );
    }
    const report: AttemptReport = {
      subscriptionId: delivery.subscriptionId,
      outcome: isDelivered ? "delivered" : "failed",
      durationMs,
    };
    for (const listener of this.reportListeners) listener(report);
  }

  private async pruneNowAndThen(): Promise<void> {
    const now = this.clock.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    // In batches, so no one transaction holds the store long; a backlog past these is left to
    // the next pass.
    for (let batch = 0; batch < 100 && !this.isClosed; batch++) {
      const removed = await this.store.webhooks.pruneDelivered(
        now - this.settings.retentionMs,
        PRUNE_BATCH,
      );
      if (removed < PRUNE_BATCH) return;
    }
  }

  /**
   * Records an outcome with whatever others finish meanwhile, in one store call: while one
   * batch is written the next gathers, as the engine's group commit does for runs.
   */
  private record(outcome: AttemptOutcome): Promise<"recorded" | "lost"> {
    return new Promise((resolve, reject) => {
      this.outcomes.push({ outcome, resolve, reject });
      if (!this.isRecording) void this.recordOutcomes();
    });
  }

  private async recordOutcomes(): Promise<void> {
    this.isRecording = true;
    while (this.outcomes.length > 0) {
      const batch = this.outcomes.splice(0);
      try {
        const results = await this.store.webhooks.recordAttempts(batch.map((b) => b.outcome));
        batch.forEach((b, i) => b.resolve(results[i] ?? "lost"));
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
    this.isRecording = false;
  }

  /** A timer at the earliest next attempt (or lapsing lease), unless one is armed sooner. */
  private async armNextAttempt(): Promise<void> {
    const at = await this.store.webhooks.nextDeliveryAt();
    if (at === undefined || this.isClosed) return;
    const now = this.clock.now();
    // Due already: in flight or waiting for room; a finishing attempt pumps again.
    if (at <= now) return;
    if (this.nextAttemptTimer && this.nextAttemptTimer.at <= at && this.nextAttemptTimer.at > now)
      return;
    this.nextAttemptTimer?.handle.cancel();
    this.nextAttemptTimer = {
      at,
      handle: later(at - now, () => {
        this.nextAttemptTimer = undefined;
        this.pump(false);
      }),
    };
  }
}

/**
 * A timer that does not keep the process alive: a script that ends without closing its Baton
 * exits as it did before webhooks (what was not delivered is delivered by the next process).
 */
function later(delayMs: number, callback: () => void): TimerHandle {
  const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), 2_147_483_647));
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}
