import type pg from "pg";
import { loadMigrations } from "../migrations.js";
import { MIGRATIONS_LOCK } from "./postgres-commit-sql.js";
import { storeFailed, withClient } from "./postgres-errors.js";

/**
 * Brings the schema to the newest migration in one transaction. Nodes that start together
 * queue on a transaction-scoped advisory lock: the first applies what is missing, the others
 * then find every version recorded and apply nothing. PostgreSQL's DDL is transactional, so a
 * migration that fails leaves nothing behind.
 */
export async function migrate(pool: pg.Pool): Promise<void> {
  const migrations = loadMigrations("postgres");
  try {
    await withClient(pool, async (client) => {
      await client.query("BEGIN");
      try {
        // Before anything else, even CREATE TABLE IF NOT EXISTS: two of those racing can fail.
        await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATIONS_LOCK]);
        await client.query(
          `CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
        );
        // Read after the lock: in READ COMMITTED this sees what a node that held it committed.
        const { rows } = await client.query<{ version: number }>(
          "SELECT version FROM schema_migrations",
        );
        const applied = new Set(rows.map((row) => row.version));
        for (const migration of migrations) {
          if (applied.has(migration.version)) continue;
          await client.query(migration.sql);
          await client.query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            [migration.version, migration.name, Date.now()],
          );
        }
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw e;
      }
    });
  } catch (e) {
    throw storeFailed("migrate", e);
  }
}
