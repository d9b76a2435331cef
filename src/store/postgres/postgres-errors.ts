import pg from "pg";
import { BatonError } from "../../common/index.js";

/**
 * Any failure of the database or of the connection to it. A statement the server refused
 * rolled its transaction back; only a connection lost while the server committed leaves the
 * outcome unknown. Either way the operation may be tried again: an append that did commit is
 * then refused by its own journal-length fence (LEASE_LOST), never applied twice.
 */
export function storeFailed(action: string, e: unknown): BatonError {
  if (e instanceof BatonError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = e instanceof pg.DatabaseError && e.code ? ` (SQLSTATE ${e.code})` : "";
  return new BatonError(
    "STORE_FAILED",
    `the PostgreSQL store could not ${action}: ${message}${code}`,
    {
      retryable: true,
      cause: e,
    },
  );
}

/** A deadlock or serialization failure: the server rolled the whole transaction back. */
export function isRetriableAbort(e: unknown): boolean {
  return e instanceof pg.DatabaseError && (e.code === "40P01" || e.code === "40001");
}

/**
 * Runs `fn` on a connection of its own, then gives it back, or closes it if it may be unusable:
 * after an error that is not the server's answer to a statement (a broken socket), or with a
 * transaction still open. Errors reach the caller as thrown, unconverted.
 */
export async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // A checked-out connection that breaks between two queries emits 'error'; unheard, that would
  // crash the process. The next query on it fails instead, and that failure is reported.
  const onError = (): void => undefined;
  client.on("error", onError);
  let failure: unknown;
  try {
    return await fn(client);
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    client.removeListener("error", onError);
    const broken = failure !== undefined && !(failure instanceof pg.DatabaseError);
    const status = client.getTransactionStatus();
    client.release(broken || status === "T" || status === "E");
  }
}

/** One statement on any pooled connection (autocommit); a failure becomes storeFailed(action). */
export async function queryRows<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  sql: string,
  values: unknown[],
  action: string,
): Promise<R[]> {
  try {
    return (await pool.query<R>(sql, values)).rows;
  } catch (e) {
    throw storeFailed(action, e);
  }
}

/**
 * Code-unit order of two strings: how rows are sorted before locking them, so every writer takes
 * locks in one order (no deadlock between two batches).
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
