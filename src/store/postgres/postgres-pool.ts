import pg from "pg";

/** BIGINT comes back as a string by default; Baton's BIGINTs (ms times, ids) fit a double. */
const types: pg.CustomTypesConfig = {
  getTypeParser: (id, format) =>
    id === pg.types.builtins.INT8 && format !== "binary"
      ? (text: string) => Number(text)
      : (pg.types.getTypeParser(id, format) as unknown),
};

/**
 * Limits that keep an unreachable database from hanging the server. Each can be changed in
 * the URL with libpq's and node-postgres' own parameters: `connect_timeout` (seconds),
 * `statement_timeout` and `query_timeout` (milliseconds).
 */
export const PoolTimeouts = {
  /** Opening a connection, including the wait for a free one in the pool. */
  connectMs: 5_000,
  /** The server cancels a statement that runs longer (SQLSTATE 57014). */
  statementMs: 30_000,
  /**
   * The client gives up on a statement whose answer does not come (a cut network, where the
   * server cannot even cancel it); a little past `statementMs`, so that the server's own
   * cancellation, which keeps the connection usable, normally comes first.
   */
  queryMs: 35_000,
  /** An idle pooled connection is closed after this. */
  idleMs: 30_000,
  /** TCP keep-alive probes start after this much silence, so dead peers are noticed. */
  keepAliveDelayMs: 10_000,
} as const;

export interface PoolOptions {
  connectionString: string;
  max: number;
  /** An idle connection failed (the server restarted, the network dropped): the pool drops it. */
  onIdleError: (error: Error) => void;
  /** Every session is read-only: the server refuses any write (SQLSTATE 25006). */
  readOnly?: boolean;
}

/**
 * A pool of connections with Baton's type parsing and the timeouts above. Connections open on
 * demand; an idle one is closed after 30 s and does not keep the process alive.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    types,
    // node-postgres reads statement_timeout and query_timeout from the URL over these.
    connectionTimeoutMillis: connectTimeoutMs(options.connectionString),
    statement_timeout: PoolTimeouts.statementMs,
    query_timeout: PoolTimeouts.queryMs,
    idleTimeoutMillis: PoolTimeouts.idleMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: PoolTimeouts.keepAliveDelayMs,
    allowExitOnIdle: true,
    fallback_application_name: "baton",
    ...(options.readOnly ? { options: "-c default_transaction_read_only=on" } : {}),
  });
  // Without a listener an idle connection's error would crash the process.
  pool.on("error", options.onIdleError);
  return pool;
}

/** libpq's `connect_timeout` (whole seconds, at least 1) from the URL, else the default. */
function connectTimeoutMs(connectionString: string): number {
  let value: string | null = null;
  try {
    value = new URL(connectionString).searchParams.get("connect_timeout");
  } catch {
    // Not a URL (a key=value string): node-postgres reports what is wrong with it.
  }
  const seconds = Number(value);
  return value !== null && Number.isFinite(seconds) && seconds > 0
    ? Math.max(1, Math.round(seconds)) * 1000
    : PoolTimeouts.connectMs;
}
