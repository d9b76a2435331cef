import pg from "pg";

/** BIGINT comes back as a string by default; Baton's BIGINTs (ms times, ids) fit a double. */
const types: pg.CustomTypesConfig = {
  getTypeParser: (id, format) =>
    id === pg.types.builtins.INT8 && format !== "binary"
      ? (text: string) => Number(text)
      : (pg.types.getTypeParser(id, format) as unknown),
};

export interface PoolOptions {
  connectionString: string;
  max: number;
  /** An idle connection failed (the server restarted, the network dropped): the pool drops it. */
  onIdleError: (error: Error) => void;
}

/**
 * A pool of connections with Baton's type parsing. Connections open on demand; an idle one is
 * closed after 30 s and does not keep the process alive.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    types,
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
    fallback_application_name: "baton",
  });
  // Without a listener an idle connection's error would crash the process.
  pool.on("error", options.onIdleError);
  return pool;
}
