import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import {
  toAttemptRecord,
  toClaimedDelivery,
  toSubscriptionRecord,
  type AttemptRow,
  type ClaimedRow,
  type SubscriptionRow,
} from "../webhook-rows.js";
import type {
  AttemptOutcome,
  AttemptRecord,
  ClaimedDelivery,
  DeliveryClaim,
  FanOut,
  NewSubscription,
  SubscriptionRecord,
  WebhookStore,
} from "../webhook-store.js";

type Prepare = (sql: string) => Database.Statement;
/** One immediate transaction (SQLite has one writer: what it reads inside stays true). */
type Write = <T>(fn: () => T) => Promise<T>;

/** Webhook subscriptions and deliveries on SQLite. */
export class SqliteWebhooks implements WebhookStore {
  constructor(
    private readonly prepare: Prepare,
    private readonly write: Write,
  ) {}

  createSubscription(subscription: NewSubscription): Promise<SubscriptionRecord> {
    return this.write(() => {
      const { head } = this.prepare(
        "SELECT COALESCE(MAX(event_id), 0) AS head FROM events",
      ).get() as {
        head: number;
      };
      this.prepare(
        `INSERT INTO webhook_subscriptions (subscription_id, topics, url, secret, created_at, after_event_id)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(
        subscription.subscriptionId,
        JSON.stringify(subscription.topics),
        subscription.url,
        subscription.secret,
        subscription.createdAt,
        head,
      );
      return { ...subscription, topics: [...subscription.topics], afterEventId: head };
    });
  }

  listSubscriptions(): Promise<SubscriptionRecord[]> {
    const rows = this.prepare(
      "SELECT * FROM webhook_subscriptions ORDER BY created_at, subscription_id",
    ).all() as SubscriptionRow[];
    return Promise.resolve(rows.map(toSubscriptionRecord));
  }

  findSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    const row = this.prepare("SELECT * FROM webhook_subscriptions WHERE subscription_id = ?").get(
      subscriptionId,
    ) as SubscriptionRow | undefined;
    return Promise.resolve(row && toSubscriptionRecord(row));
  }

  deleteSubscription(subscriptionId: string): Promise<boolean> {
    return this.write(() => {
      this.prepare("DELETE FROM webhook_attempts WHERE subscription_id = ?").run(subscriptionId);
      this.prepare("DELETE FROM webhook_deliveries WHERE subscription_id = ?").run(subscriptionId);
      return (
        this.prepare("DELETE FROM webhook_subscriptions WHERE subscription_id = ?").run(
          subscriptionId,
        ).changes > 0
      );
    });
  }

  readCursor(): Promise<number> {
    const row = this.prepare("SELECT event_id FROM webhook_cursor WHERE id = 1").get() as {
      event_id: number;
    };
    return Promise.resolve(row.event_id);
  }

  fanOut({ fromEventId, toEventId, deliveries, knownSubscriptions }: FanOut): Promise<boolean> {
    return this.write(() => {
      const unknown = this.prepare(
        `SELECT 1 FROM webhook_subscriptions WHERE after_event_id < ?
           AND subscription_id NOT IN (SELECT value FROM json_each(?)) LIMIT 1`,
      ).get(toEventId, JSON.stringify(knownSubscriptions));
      if (unknown !== undefined) return false;
      const moved = this.prepare(
        "UPDATE webhook_cursor SET event_id = ? WHERE id = 1 AND event_id = ?",
      ).run(toEventId, fromEventId).changes;
      if (moved === 0) return false;
      const insert = this.prepare(
        `INSERT INTO webhook_deliveries (subscription_id, event_id, event_key, topic, payload, status,
           attempts, next_attempt_at, created_at)
         SELECT ?, ?, ?, ?, ?, 'pending', 0, ?, ?
         WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE subscription_id = ?)
         ON CONFLICT (subscription_id, event_id) DO NOTHING`,
      );
      for (const d of deliveries) {
        insert.run(
          d.subscriptionId,
          d.eventId,
          d.eventKey,
          d.topic,
          d.payload,
          d.createdAt,
          d.createdAt,
          d.subscriptionId,
        );
      }
      return true;
    });
  }

  claimDeliveries(claim: DeliveryClaim): Promise<ClaimedDelivery[]> {
    const excluded = JSON.stringify(claim.excludeSubscriptions);
    return this.write(() => {
      const due = this.prepare(
        `SELECT subscription_id, event_id FROM (
           SELECT subscription_id, event_id, next_attempt_at, ROW_NUMBER() OVER (
             PARTITION BY subscription_id ORDER BY next_attempt_at, event_id) AS n
           FROM webhook_deliveries
           WHERE status = 'pending' AND next_attempt_at <= ?
             AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
             AND subscription_id NOT IN (SELECT value FROM json_each(?)))
         WHERE n <= ? ORDER BY next_attempt_at, event_id LIMIT ?`,
      ).all(claim.now, claim.now, excluded, claim.perSubscription, claim.limit) as Array<{
        subscription_id: string;
        event_id: number;
      }>;
      const token = randomBytes(16).toString("hex");
      const lease = this.prepare(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, lease_token = ?, lease_expires_at = ?
         WHERE subscription_id = ? AND event_id = ?`,
      );
      const read = this.prepare(
        `SELECT d.*, s.url, s.secret FROM webhook_deliveries d
         JOIN webhook_subscriptions s ON s.subscription_id = d.subscription_id
         WHERE d.subscription_id = ? AND d.event_id = ?`,
      );
      return due.flatMap((row) => {
        lease.run(token, claim.now + claim.leaseMs, row.subscription_id, row.event_id);
        const claimed = read.get(row.subscription_id, row.event_id) as ClaimedRow | undefined;
        return claimed ? [toClaimedDelivery(claimed)] : [];
      });
    });
  }

  recordAttempts(outcomes: readonly AttemptOutcome[]): Promise<Array<"recorded" | "lost">> {
    return this.write(() => outcomes.map((outcome) => this.recordAttempt(outcome)));
  }

  /** Inside the caller's transaction. */
  private recordAttempt(outcome: AttemptOutcome): "recorded" | "lost" {
    this.prepare(
      `INSERT INTO webhook_attempts (subscription_id, event_id, attempt, event_key, at, duration_ms,
           status_code, error, next_attempt_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
         WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE subscription_id = ?)
         ON CONFLICT (subscription_id, event_id, attempt) DO NOTHING`,
    ).run(
      outcome.subscriptionId,
      outcome.eventId,
      outcome.attempt,
      outcome.eventKey,
      outcome.at,
      outcome.durationMs,
      outcome.statusCode,
      outcome.error,
      outcome.nextAttemptAt,
      outcome.subscriptionId,
    );
    const changed =
      outcome.nextAttemptAt === null
        ? this.prepare(
            `UPDATE webhook_deliveries SET status = 'delivered', delivered_at = ?, lease_token = NULL,
                 lease_expires_at = NULL
               WHERE subscription_id = ? AND event_id = ? AND status = 'pending'`,
          ).run(outcome.at + outcome.durationMs, outcome.subscriptionId, outcome.eventId).changes
        : this.prepare(
            `UPDATE webhook_deliveries SET next_attempt_at = ?, lease_token = NULL, lease_expires_at = NULL
               WHERE subscription_id = ? AND event_id = ? AND status = 'pending' AND lease_token = ?`,
          ).run(outcome.nextAttemptAt, outcome.subscriptionId, outcome.eventId, outcome.leaseToken)
            .changes;
    return changed > 0 ? "recorded" : "lost";
  }

  listAttempts(subscriptionId: string, limit: number): Promise<AttemptRecord[]> {
    const rows = this.prepare(
      `SELECT * FROM webhook_attempts WHERE subscription_id = ?
       ORDER BY at DESC, event_id DESC, attempt DESC LIMIT ?`,
    ).all(subscriptionId, limit) as AttemptRow[];
    return Promise.resolve(rows.map(toAttemptRecord));
  }

  pruneDelivered(before: number, limit: number): Promise<number> {
    return this.write(() => {
      const old = this.prepare(
        `SELECT subscription_id, event_id FROM webhook_deliveries
         WHERE status = 'delivered' AND delivered_at < ? LIMIT ?`,
      ).all(before, limit) as Array<{ subscription_id: string; event_id: number }>;
      const attempts = this.prepare(
        "DELETE FROM webhook_attempts WHERE subscription_id = ? AND event_id = ?",
      );
      const delivery = this.prepare(
        "DELETE FROM webhook_deliveries WHERE subscription_id = ? AND event_id = ?",
      );
      for (const row of old) {
        attempts.run(row.subscription_id, row.event_id);
        delivery.run(row.subscription_id, row.event_id);
      }
      return old.length;
    });
  }

  deliveryBacklog(): Promise<{ pending: number; oldestCreatedAt: number | null }> {
    const row = this.prepare(
      `SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM webhook_deliveries
       WHERE status = 'pending'`,
    ).get() as { pending: number; oldest: number | null };
    return Promise.resolve({ pending: row.pending, oldestCreatedAt: row.oldest });
  }

  nextDeliveryAt(): Promise<number | undefined> {
    const row = this.prepare(
      `SELECT MIN(MAX(next_attempt_at, COALESCE(lease_expires_at, 0))) AS at FROM webhook_deliveries
       WHERE status = 'pending'`,
    ).get() as { at: number | null };
    return Promise.resolve(row.at ?? undefined);
  }
}
