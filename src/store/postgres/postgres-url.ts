import { ValidationError } from "../../common/index.js";
import type { PostgresStoreOptions } from "./postgres-store.js";

export const MAX_POOL_SIZE = 1000;

/** Whether a database URL names PostgreSQL (`postgres://` or `postgresql://`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/**
 * Reads `postgres://user:password@host:port/database?pool=N&listen=false`. `pool` (1–1000,
 * default 10) and `listen` (default true) are Baton's and are taken out; every other parameter
 * (`sslmode`, `application_name`, …) is left for node-postgres.
 */
export function postgresStoreOptions(url: string): PostgresStoreOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError("INVALID_ARGUMENT", `database URL ${redact(url)} is not a valid URL`);
  }
  const pool = parsed.searchParams.get("pool");
  const listen = parsed.searchParams.get("listen");
  parsed.searchParams.delete("pool");
  parsed.searchParams.delete("listen");
  if (listen !== null && listen !== "true" && listen !== "false") {
    throw new ValidationError(
      "INVALID_ARGUMENT",
      `listen=${listen} in ${redact(url)}: use listen=false to poll instead of LISTEN/NOTIFY`,
    );
  }
  const listenOption = listen === "false" ? { listen: false } : {};
  if (pool === null) return { connectionString: parsed.toString(), ...listenOption };
  const poolSize = Number(pool);
  if (!/^\d+$/.test(pool) || poolSize < 1 || poolSize > MAX_POOL_SIZE) {
    throw new ValidationError(
      "INVALID_ARGUMENT",
      `pool=${pool} in ${redact(url)}: use a whole number of connections from 1 to ${MAX_POOL_SIZE}`,
    );
  }
  return { connectionString: parsed.toString(), poolSize, ...listenOption };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@/]*@/, "$1***@");
}
