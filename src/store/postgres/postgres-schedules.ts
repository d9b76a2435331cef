import type pg from "pg";
import {
  ScheduleSql,
  advanceParams,
  toScheduleRecord,
  upsertParams,
  type ScheduleAdvance,
  type ScheduleRecord,
  type ScheduleRow,
  type ScheduleSpec,
} from "../schedule-records.js";

type Query = <R extends pg.QueryResultRow>(sql: string, values: unknown[]) => Promise<R[]>;

/**
 * The schedules table on PostgreSQL. Every write is one autocommit statement; the advance is a
 * compare-and-set on `next_fire_at`, so of several nodes deciding one tick one row update wins
 * (the others' UPDATE re-checks the WHERE on the new row version and matches nothing).
 */
export class PostgresSchedules {
  constructor(private readonly query: Query) {}

  async upsert(
    spec: ScheduleSpec,
    nextFireAt: number | null,
    now: number,
  ): Promise<{ created: boolean; schedule: ScheduleRecord }> {
    // xmax = 0 only on a freshly inserted row version: tells an insert from an update in one statement.
    const rows = await this.query<ScheduleRow & { inserted: boolean }>(
      `${ScheduleSql.upsert} RETURNING *, (xmax = 0) AS inserted`,
      upsertParams(spec, nextFireAt, now),
    );
    const row = rows[0]!;
    return { created: row.inserted, schedule: toScheduleRecord(row) };
  }

  async find(name: string): Promise<ScheduleRecord | undefined> {
    const rows = await this.query<ScheduleRow>(ScheduleSql.find, [name]);
    return rows[0] && toScheduleRecord(rows[0]);
  }

  async list(): Promise<ScheduleRecord[]> {
    return (await this.query<ScheduleRow>(ScheduleSql.list, [])).map(toScheduleRecord);
  }

  async advance(advance: ScheduleAdvance): Promise<boolean> {
    const rows = await this.query(`${ScheduleSql.advance} RETURNING name`, advanceParams(advance));
    return rows.length === 1;
  }

  async settle(name: string, pendingSince: number): Promise<void> {
    await this.query(ScheduleSql.settle, [name, pendingSince]);
  }

  async setPaused(
    name: string,
    paused: boolean,
    nextFireAt: number | null,
    now: number,
  ): Promise<boolean> {
    const rows = paused
      ? await this.query(`${ScheduleSql.pause} RETURNING name`, [name, now])
      : await this.query(`${ScheduleSql.resume} RETURNING name`, [name, nextFireAt, now]);
    return rows.length === 1;
  }

  async delete(name: string): Promise<boolean> {
    return (await this.query(`${ScheduleSql.delete} RETURNING name`, [name])).length === 1;
  }
}
