import type Database from "better-sqlite3";
import { lifecycleEventId, type RunStatus } from "../../common/index.js";
import type {
  EventFilter,
  EventPublish,
  EventPublishResult,
  EventRecord,
  NewRun,
  WriteResult,
} from "../store.js";

interface EventRow {
  event_id: number;
  type: string;
  event_key: string | null;
  run_id: string | null;
  workflow: string | null;
  status: RunStatus | null;
  data: string | null;
  at: number;
}

const COLUMNS = "event_id, type, event_key, run_id, workflow, status, data, at";

/**
 * The durable event log on SQLite. One process writes the file and every write is one
 * transaction (BEGIN IMMEDIATE), so positions (rowids) increase in commit order.
 */
export class SqliteEvents {
  constructor(
    private readonly db: Database.Database,
    private readonly statement: (sql: string) => Database.Statement,
    /** Creates a run if its id is free (the store's own createRun). */
    private readonly createRun: (run: NewRun) => WriteResult,
  ) {}

  /**
   * Writes one event inside the caller's transaction. A user event whose id is taken writes
   * nothing and returns false; a new one wakes the runs waiting for its topic.
   */
  insert(event: EventRecord): boolean {
    const changes = this.statement(
      `INSERT INTO events (type, event_key, run_id, workflow, status, data, at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (event_key) DO NOTHING`,
    ).run(
      event.type,
      event.eventId ?? null,
      event.runId,
      event.workflow,
      event.status,
      event.data,
      event.at,
    ).changes;
    if (changes === 0) return false;
    if (event.eventId !== undefined) this.wakeWaiting(event.type, event.at);
    return true;
  }

  publish(publish: EventPublish): EventPublishResult {
    return this.db
      .transaction((): EventPublishResult => {
        if (!this.insert(publish.event)) {
          return { created: false, event: this.findByKey(publish.event.eventId)! };
        }
        const event = this.findByKey(publish.event.eventId)!;
        const createdRuns: string[] = [];
        for (const run of publish.createRuns) {
          const result = this.createRun(run);
          if (result.ok && result.created) createdRuns.push(run.runId);
        }
        return { created: true, event, createdRuns };
      })
      .immediate();
  }

  read(afterId: number, limit: number, filter: EventFilter = {}): EventRecord[] {
    const rows = (
      filter.topic === undefined
        ? this.statement(
            `SELECT ${COLUMNS} FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?`,
          ).all(afterId, limit)
        : this.statement(
            `SELECT ${COLUMNS} FROM events WHERE type = ? AND event_id > ? ORDER BY event_id LIMIT ?`,
          ).all(filter.topic, afterId, limit)
    ) as EventRow[];
    return rows.map(toEventRecord);
  }

  lastPosition(): number {
    const row = this.statement("SELECT COALESCE(max(event_id), 0) AS p FROM events").get() as {
      p: number;
    };
    return Number(row.p);
  }

  private findByKey(eventId: string): EventRecord | undefined {
    const row = this.statement(`SELECT ${COLUMNS} FROM events WHERE event_key = ?`).get(eventId) as
      EventRow | undefined;
    return row && toEventRecord(row);
  }

  /** Marks the runs waiting for `topic` due, so a restart cannot lose the reason to look. */
  private wakeWaiting(topic: string, at: number): void {
    this.statement(
      `UPDATE runs SET wake_at = MIN(COALESCE(wake_at, ?), ?)
       WHERE status = 'waiting' AND json_extract(waiting_on, '$.topic') = ?`,
    ).run(at, at, topic);
  }
}

export function toEventRecord(row: EventRow): EventRecord {
  return {
    position: Number(row.event_id),
    eventId: row.event_key ?? lifecycleEventId(Number(row.event_id)),
    user: row.event_key !== null,
    type: row.type,
    runId: row.run_id,
    workflow: row.workflow,
    status: row.status,
    data: row.data,
    at: Number(row.at),
  };
}
