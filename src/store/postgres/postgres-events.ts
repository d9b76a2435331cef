import type pg from "pg";
import { lifecycleEventId, type RunStatus } from "../../common/index.js";
import type {
  EventFilter,
  EventPublish,
  EventPublishResult,
  EventRecord,
  NewRun,
} from "../store.js";
import { EVENTS_LOCK } from "./postgres-commit-sql.js";
import { isRetriableAbort, storeFailed, withClient } from "./postgres-errors.js";
import { Channel } from "./postgres-notifier.js";

interface EventRow {
  event_id: string | number;
  type: string;
  event_key: string | null;
  run_id: string | null;
  workflow: string | null;
  status: RunStatus | null;
  data: string | null;
  at: string | number;
}

const COLUMNS = "event_id, type, event_key, run_id, workflow, status, data, at";

/** A publish that the server aborted (a deadlock, most likely against a reader) is tried again. */
const PUBLISH_TRIES = 3;

/**
 * The durable event log on PostgreSQL. Positions come from a sequence, drawn by writers that hold
 * EVENTS_LOCK shared until they commit; readers take it exclusively (see EVENTS_LOCK), so a reader
 * never passes a position that a later commit could still fill.
 */
export class PostgresEvents {
  constructor(private readonly pool: pg.Pool) {}

  async read(afterId: number, limit: number, filter: EventFilter = {}): Promise<EventRecord[]> {
    const rows = await this.whenSettled("read events", (client) =>
      filter.topic === undefined
        ? client.query<EventRow>(
            `SELECT ${COLUMNS} FROM events WHERE event_id > $1 ORDER BY event_id LIMIT $2`,
            [afterId, limit],
          )
        : client.query<EventRow>(
            `SELECT ${COLUMNS} FROM events WHERE type = $3 AND event_id > $1 ORDER BY event_id LIMIT $2`,
            [afterId, limit, filter.topic],
          ),
    );
    return rows.map(toEventRecord);
  }

  async lastPosition(): Promise<number> {
    const rows = await this.whenSettled("read the event log's end", (client) =>
      client.query<{ p: string | number }>("SELECT COALESCE(max(event_id), 0) AS p FROM events"),
    );
    return Number(rows[0]?.p ?? 0);
  }

  /**
   * Runs a read once every position drawn so far has committed or rolled back: exclusive against
   * writers, which hold EVENTS_LOCK shared from drawing a position until they commit; the read's
   * snapshot, taken after the lock is granted, sees them all. A reader that pages by position can
   * therefore never skip an event that commits later with a smaller one.
   */
  private async whenSettled<R extends pg.QueryResultRow>(
    action: string,
    read: (client: pg.PoolClient) => Promise<pg.QueryResult<R>>,
  ): Promise<R[]> {
    try {
      return await withClient(this.pool, async (client) => {
        await client.query("BEGIN");
        try {
          await client.query("SELECT pg_advisory_xact_lock($1)", [EVENTS_LOCK]);
          const { rows } = await read(client);
          await client.query("COMMIT");
          return rows;
        } catch (e) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw e;
        }
      });
    } catch (e) {
      throw storeFailed(action, e);
    }
  }

  async publish(publish: EventPublish): Promise<EventPublishResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withClient(this.pool, (client) => this.publishOnce(client, publish));
      } catch (e) {
        if (attempt < PUBLISH_TRIES && isRetriableAbort(e)) continue;
        throw storeFailed("publish an event", e);
      }
    }
  }

  /**
   * One transaction: the event (unless its id is taken), its trigger runs, the wake-up of the
   * runs waiting for its topic, and their notifications — all or nothing. A crash before COMMIT
   * leaves no trace, and the publisher's retry with the same id writes it then; after COMMIT, the
   * retry finds it and writes nothing.
   */
  private async publishOnce(
    client: pg.PoolClient,
    publish: EventPublish,
  ): Promise<EventPublishResult> {
    const { event } = publish;
    await client.query("BEGIN");
    try {
      // Taken before the position is drawn and held until COMMIT (see EVENTS_LOCK).
      await client.query("SELECT pg_advisory_xact_lock_shared($1)", [EVENTS_LOCK]);
      // Against a concurrent publisher of the same id, this waits for its outcome: its event
      // committed (nothing is written here) or rolled back (this one is written).
      const inserted = await client.query<EventRow>(
        `INSERT INTO events (event_id, type, event_key, run_id, workflow, status, data, at)
         VALUES (nextval('events_event_id_seq'), $1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (event_key) DO NOTHING RETURNING ${COLUMNS}`,
        [
          event.type,
          event.eventId,
          event.runId,
          event.workflow,
          event.status,
          event.data,
          event.at,
        ],
      );
      const row = inserted.rows[0];
      if (!row) {
        await client.query("COMMIT");
        const existing = await client.query<EventRow>(
          `SELECT ${COLUMNS} FROM events WHERE event_key = $1`,
          [event.eventId],
        );
        return { created: false, event: toEventRecord(existing.rows[0]!) };
      }
      const createdRuns = await this.createRuns(client, publish.createRuns);
      await client.query(
        `WITH woken AS (
           UPDATE runs SET wake_at = LEAST(wake_at, $2)
           WHERE status = 'waiting' AND ((waiting_on::jsonb) ->> 'topic') = $1
           RETURNING run_id
         )
         SELECT pg_notify('${Channel.Runs}', run_id) FROM woken`,
        [event.type, event.at],
      );
      await client.query("COMMIT");
      return { created: true, event: toEventRecord(row), createdRuns };
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
  }

  /** Each run only if its id is free (an existing run stays as it is), with its first entry. */
  private async createRuns(client: pg.PoolClient, runs: readonly NewRun[]): Promise<string[]> {
    const created: string[] = [];
    for (const run of runs) {
      const result = await client.query(
        `INSERT INTO runs (run_id, workflow, status, input, parent_run_id, parent_seq, created_at, updated_at, journal_length, owner)
         VALUES ($1, $2, 'pending', $3, $4, $5, $6, $6, 1, $7)
         ON CONFLICT (run_id) DO NOTHING RETURNING run_id`,
        [
          run.runId,
          run.workflow,
          run.input,
          run.parentRunId,
          run.parentSeq,
          run.createdAt,
          run.owner ?? null,
        ],
      );
      if (result.rowCount === 0) continue;
      const entry = run.firstEntry;
      await client.query(
        `INSERT INTO journal (run_id, position, seq, type, name, data, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [run.runId, entry.position, entry.seq, entry.type, entry.name, entry.data, entry.at],
      );
      created.push(run.runId);
    }
    return created;
  }
}

function toEventRecord(row: EventRow): EventRecord {
  const position = Number(row.event_id);
  return {
    position,
    eventId: row.event_key ?? lifecycleEventId(position),
    user: row.event_key !== null,
    type: row.type,
    runId: row.run_id,
    workflow: row.workflow,
    status: row.status,
    data: row.data,
    at: Number(row.at),
  };
}
