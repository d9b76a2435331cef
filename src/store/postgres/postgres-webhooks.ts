import { randomBytes } from "node:crypto";
import type pg from "pg";
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
import { EVENTS_LOCK } from "./postgres-commit-sql.js";
import { compareText, queryRows, storeFailed, withClient } from "./postgres-errors.js";

/** Webhook subscriptions and deliveries on PostgreSQL, shared by every node. */
export class PostgresWebhooks implements WebhookStore {
  constructor(private readonly pool: pg.Pool) {}

  createSubscription(subscription: NewSubscription): Promise<SubscriptionRecord> {
    return this.transaction("create a subscription", async (client) => {
      // As readEvents: once the lock is granted every event id drawn so far has committed (or
      // rolled back), so an event committed after this subscription has a larger id than `head`.
      await client.query("SELECT pg_advisory_xact_lock($1)", [EVENTS_LOCK]);
      const { rows } = await client.query<SubscriptionRow>(
        `INSERT INTO webhook_subscriptions (subscription_id, topics, url, secret, created_at, after_event_id)
         SELECT $1, $2, $3, $4, $5, COALESCE(max(event_id), 0) FROM events
         RETURNING *`,
        [
          subscription.subscriptionId,
          JSON.stringify(subscription.topics),
          subscription.url,
          subscription.secret,
          subscription.createdAt,
        ],
      );
      return toSubscriptionRecord(rows[0]!);
    });
  }

  async listSubscriptions(): Promise<SubscriptionRecord[]> {
    const rows = await this.rows<SubscriptionRow>(
      "SELECT * FROM webhook_subscriptions ORDER BY created_at, subscription_id",
      [],
    );
    return rows.map(toSubscriptionRecord);
  }

  async findSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    const [row] = await this.rows<SubscriptionRow>(
      "SELECT * FROM webhook_subscriptions WHERE subscription_id = $1",
      [subscriptionId],
    );
    return row && toSubscriptionRecord(row);
  }

  deleteSubscription(subscriptionId: string): Promise<boolean> {
    return this.transaction("delete a subscription", async (client) => {
      await client.query("DELETE FROM webhook_attempts WHERE subscription_id = $1", [
        subscriptionId,
      ]);
      await client.query("DELETE FROM webhook_deliveries WHERE subscription_id = $1", [
        subscriptionId,
      ]);
      const { rowCount } = await client.query(
        "DELETE FROM webhook_subscriptions WHERE subscription_id = $1",
        [subscriptionId],
      );
      return (rowCount ?? 0) > 0;
    });
  }

  async readCursor(): Promise<number> {
    const [row] = await this.rows<{ event_id: number }>(
      "SELECT event_id FROM webhook_cursor WHERE id = 1",
      [],
    );
    return row?.event_id ?? 0;
  }

  fanOut({ fromEventId, toEventId, deliveries, knownSubscriptions }: FanOut): Promise<boolean> {
    return this.transaction("fan out events", async (client) => {
      // The row lock on the cursor serialises nodes: a second one waits, then finds the cursor
      // moved (READ COMMITTED re-check) and writes nothing.
      const moved = await client.query(
        "UPDATE webhook_cursor SET event_id = $1 WHERE id = 1 AND event_id = $2",
        [toEventId, fromEventId],
      );
      // A subscription made after the caller listed them has `after_event_id` at least the
      // newest event committed by then, which is every event the caller read: only one made
      // before that could want them, and it is committed, so this sees it.
      const unknown = await client.query(
        `SELECT 1 FROM webhook_subscriptions WHERE after_event_id < $1
           AND subscription_id <> ALL($2::text[]) LIMIT 1`,
        [toEventId, knownSubscriptions],
      );
      if (moved.rowCount === 0 || unknown.rowCount !== 0) {
        await client.query("ROLLBACK");
        return false;
      }
      if (deliveries.length > 0) {
        await client.query(
          `INSERT INTO webhook_deliveries (subscription_id, event_id, event_key, topic, payload, status,
             attempts, next_attempt_at, created_at)
           SELECT d.subscription_id, d.event_id, d.event_key, d.topic, d.payload, 'pending', 0,
             d.created_at, d.created_at
           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])
             AS d (subscription_id, event_id, event_key, topic, payload, created_at)
           JOIN webhook_subscriptions s ON s.subscription_id = d.subscription_id
           ON CONFLICT (subscription_id, event_id) DO NOTHING`,
          [
            deliveries.map((d) => d.subscriptionId),
            deliveries.map((d) => d.eventId),
            deliveries.map((d) => d.eventKey),
            deliveries.map((d) => d.topic),
            deliveries.map((d) => d.payload),
            deliveries.map((d) => d.createdAt),
          ],
        );
      }
      return true;
    });
  }

  async claimDeliveries(claim: DeliveryClaim): Promise<ClaimedDelivery[]> {
    // SKIP LOCKED: two nodes claiming at once take different rows; the re-checked lease in the
    // locking step keeps a row another node leased meanwhile from being leased twice.
    const rows = await this.rows<ClaimedRow>(
      `WITH due AS (
         SELECT subscription_id, event_id FROM (
           SELECT subscription_id, event_id, next_attempt_at, row_number() OVER (
             PARTITION BY subscription_id ORDER BY next_attempt_at, event_id) AS n
           FROM webhook_deliveries
           WHERE status = 'pending' AND next_attempt_at <= $1
             AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
             AND NOT (subscription_id = ANY($2::text[]))) ranked
         WHERE n <= $3 ORDER BY next_attempt_at, event_id LIMIT $4
       ), locked AS (
         SELECT d.subscription_id, d.event_id FROM webhook_deliveries d
         JOIN due USING (subscription_id, event_id)
         WHERE d.status = 'pending' AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $1)
         FOR UPDATE OF d SKIP LOCKED
       )
       UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_token = $5,
         lease_expires_at = $1::bigint + $6::bigint
       FROM locked l, webhook_subscriptions s
       WHERE d.subscription_id = l.subscription_id AND d.event_id = l.event_id
         AND s.subscription_id = d.subscription_id
       RETURNING d.*, s.url, s.secret`,
      [
        claim.now,
        claim.excludeSubscriptions,
        claim.perSubscription,
        claim.limit,
        randomBytes(16).toString("hex"),
        claim.leaseMs,
      ],
      "claim deliveries",
    );
    return rows
      .map(toClaimedDelivery)
      .sort((a, b) => a.eventId - b.eventId || compareText(a.subscriptionId, b.subscriptionId));
  }

  recordAttempts(outcomes: readonly AttemptOutcome[]): Promise<Array<"recorded" | "lost">> {
    return this.transaction("record attempts", async (client) => {
      const results: Array<"recorded" | "lost"> = [];
      for (const outcome of outcomes) results.push(await this.recordAttempt(client, outcome));
      return results;
    });
  }

  /** Inside the caller's transaction. */
  private async recordAttempt(
    client: pg.PoolClient,
    outcome: AttemptOutcome,
  ): Promise<"recorded" | "lost"> {
    await client.query(
      `INSERT INTO webhook_attempts (subscription_id, event_id, attempt, event_key, at, duration_ms,
           status_code, error, next_attempt_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
         WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE subscription_id = $1)
         ON CONFLICT (subscription_id, event_id, attempt) DO NOTHING`,
      [
        outcome.subscriptionId,
        outcome.eventId,
        outcome.attempt,
        outcome.eventKey,
        outcome.at,
        outcome.durationMs,
        outcome.statusCode,
        outcome.error,
        outcome.nextAttemptAt,
      ],
    );
    const { rowCount } =
      outcome.nextAttemptAt === null
        ? await client.query(
            `UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $1,
                 lease_token = NULL, lease_expires_at = NULL
               WHERE subscription_id = $2 AND event_id = $3 AND status = 'pending'`,
            [outcome.at + outcome.durationMs, outcome.subscriptionId, outcome.eventId],
          )
        : await client.query(
            `UPDATE webhook_deliveries SET next_attempt_at = $1, lease_token = NULL,
                 lease_expires_at = NULL
               WHERE subscription_id = $2 AND event_id = $3 AND status = 'pending'
                 AND lease_token = $4`,
            [outcome.nextAttemptAt, outcome.subscriptionId, outcome.eventId, outcome.leaseToken],
          );
    return (rowCount ?? 0) > 0 ? "recorded" : "lost";
  }

  async listAttempts(subscriptionId: string, limit: number): Promise<AttemptRecord[]> {
    const rows = await this.rows<AttemptRow>(
      `SELECT * FROM webhook_attempts WHERE subscription_id = $1
       ORDER BY at DESC, event_id DESC, attempt DESC LIMIT $2`,
      [subscriptionId, limit],
    );
    return rows.map(toAttemptRecord);
  }

  pruneDelivered(before: number, limit: number): Promise<number> {
    return this.transaction("prune deliveries", async (client) => {
      const { rows } = await client.query<{ subscription_id: string; event_id: number }>(
        `DELETE FROM webhook_deliveries WHERE (subscription_id, event_id) IN (
           SELECT subscription_id, event_id FROM webhook_deliveries
           WHERE status = 'delivered' AND delivered_at < $1 LIMIT $2)
         RETURNING subscription_id, event_id`,
        [before, limit],
      );
      if (rows.length > 0) {
        await client.query(
          `DELETE FROM webhook_attempts a
           USING unnest($1::text[], $2::bigint[]) AS g (subscription_id, event_id)
           WHERE a.subscription_id = g.subscription_id AND a.event_id = g.event_id`,
          [rows.map((r) => r.subscription_id), rows.map((r) => r.event_id)],
        );
      }
      return rows.length;
    });
  }

  async deliveryBacklog(): Promise<{ pending: number; oldestCreatedAt: number | null }> {
    const [row] = await this.rows<{ pending: number; oldest: number | null }>(
      `SELECT count(*) AS pending, min(created_at) AS oldest FROM webhook_deliveries
       WHERE status = 'pending'`,
      [],
    );
    return { pending: row?.pending ?? 0, oldestCreatedAt: row?.oldest ?? null };
  }

  async nextDeliveryAt(): Promise<number | undefined> {
    const [row] = await this.rows<{ at: number | null }>(
      `SELECT min(greatest(next_attempt_at, COALESCE(lease_expires_at, 0))) AS at
       FROM webhook_deliveries WHERE status = 'pending'`,
      [],
    );
    return row?.at ?? undefined;
  }

  private async transaction<T>(
    action: string,
    fn: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    try {
      return await withClient(this.pool, async (client) => {
        await client.query("BEGIN");
        try {
          const result = await fn(client);
          if (client.getTransactionStatus() === "T") await client.query("COMMIT");
          return result;
        } catch (e) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw e;
        }
      });
    } catch (e) {
      throw storeFailed(action, e);
    }
  }

  private async rows<R extends pg.QueryResultRow>(
    sql: string,
    values: unknown[],
    action = "read webhooks",
  ): Promise<R[]> {
    return queryRows<R>(this.pool, sql, values, action);
  }
}
