import type Database from "better-sqlite3";
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

/**
 * The schedules table on SQLite: ScheduleSql's shared text, its `$N` read as named `@pN`
 * parameters (better-sqlite3 binds a repeated `?N` as two). One connection writes the file, so
 * each statement is atomic on its own.
 */
export class SqliteSchedules {
  constructor(private readonly statement: (sql: string) => Database.Statement) {}

  upsert(
    spec: ScheduleSpec,
    nextFireAt: number | null,
    now: number,
  ): { created: boolean; schedule: ScheduleRecord } {
    const created = this.find(spec.name) === undefined;
    this.run(ScheduleSql.upsert, upsertParams(spec, nextFireAt, now));
    return { created, schedule: this.find(spec.name)! };
  }

  find(name: string): ScheduleRecord | undefined {
    const row = this.query(ScheduleSql.find, [name])[0];
    return row && toScheduleRecord(row);
  }

  list(): ScheduleRecord[] {
    return this.query(ScheduleSql.list, []).map(toScheduleRecord);
  }

  advance(advance: ScheduleAdvance): boolean {
    return this.run(ScheduleSql.advance, advanceParams(advance)) === 1;
  }

  settle(name: string, pendingSince: number): void {
    this.run(ScheduleSql.settle, [name, pendingSince]);
  }

  setPaused(name: string, paused: boolean, nextFireAt: number | null, now: number): boolean {
    return paused
      ? this.run(ScheduleSql.pause, [name, now]) === 1
      : this.run(ScheduleSql.resume, [name, nextFireAt, now]) === 1;
  }

  delete(name: string): boolean {
    return this.run(ScheduleSql.delete, [name]) === 1;
  }

  private run(sql: string, params: unknown[]): number {
    return this.statement(named(sql)).run(bind(params)).changes;
  }

  private query(sql: string, params: unknown[]): ScheduleRow[] {
    return this.statement(named(sql)).all(bind(params)) as ScheduleRow[];
  }
}

function named(sql: string): string {
  return sql.replace(/\$(\d+)/g, "@p$1");
}

function bind(params: unknown[]): Record<string, unknown> {
  return Object.fromEntries(params.map((value, i) => [`p${i + 1}`, value]));
}
