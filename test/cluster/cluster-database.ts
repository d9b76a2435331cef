/**
 * A fresh PostgreSQL database for a cluster test, with the tables cluster-node.ts's services
 * write (test_executions: what ran, where; test_gates: keys that hold a step back), and a small
 * pool the test reads it through.
 */
import pg from "pg";
import { freshDatabase, type TestDatabase } from "../support/postgres.js";

export interface ClusterDatabase {
  db: TestDatabase;
  sql: pg.Pool;
}

export async function openClusterDatabase(poolSize = 4): Promise<ClusterDatabase> {
  const db = await freshDatabase();
  const sql = new pg.Pool({ connectionString: db.url, max: poolSize });
  sql.on("error", () => undefined); // an idle connection cut by the database's drop
  await sql.query(
    `CREATE TABLE test_executions (
       run_id text NOT NULL, step text NOT NULL, idempotency_key text NOT NULL,
       node_id text NOT NULL, at bigint NOT NULL)`,
  );
  await sql.query("CREATE TABLE test_gates (key text PRIMARY KEY)");
  return { db, sql };
}

export async function closeClusterDatabase({ db, sql }: ClusterDatabase): Promise<void> {
  await sql.end();
  await db.drop();
}
