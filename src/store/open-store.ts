import { ValidationError } from "../common/index.js";
import { PostgresStore } from "./postgres/postgres-store.js";
import { isPostgresUrl, postgresStoreOptions } from "./postgres/postgres-url.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { JournalReader } from "./journal-reader.js";
import { PostgresJournalReader } from "./postgres/postgres-reader.js";
import { SqliteJournalReader } from "./sqlite/sqlite-reader.js";
import type { Store } from "./store.js";

/**
 * Opens a store from a URL: `sqlite:PATH`, `sqlite::memory:`, optionally with
 * `?synchronous=normal` to trade power-loss durability for speed; or
 * `postgres://user:password@host:port/database` (also `postgresql://`), optionally with
 * `?pool=N` connections (default 10) and any parameter node-postgres reads (`sslmode=…`).
 */
export function openStore(url: string): Store {
  if (url.startsWith("sqlite:")) {
    const [path = "", query = ""] = url.slice("sqlite:".length).split("?", 2);
    if (path === "")
      throw new ValidationError("INVALID_ARGUMENT", `database URL ${url} names no file`);
    const synchronous = new URLSearchParams(query).get("synchronous");
    if (synchronous !== null && synchronous !== "full" && synchronous !== "normal") {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `synchronous=${synchronous} in ${url}: use full or normal`,
      );
    }
    return new SqliteStore({ path, synchronous: synchronous ?? "full" });
  }
  if (isPostgresUrl(url)) return new PostgresStore(postgresStoreOptions(url));
  throw new ValidationError(
    "INVALID_ARGUMENT",
    `database URL ${JSON.stringify(url)} is not supported: use sqlite:PATH, sqlite::memory: or postgres://…`,
  );
}

/**
 * Opens a database read-only for `baton replay-check`: `sqlite:PATH` (or a bare path) or a
 * PostgreSQL URL. Nothing is migrated or locked; the reader cannot write.
 */
export function openJournalReader(url: string): JournalReader {
  if (isPostgresUrl(url)) return new PostgresJournalReader(url);
  const path = url.startsWith("sqlite:")
    ? (url.slice("sqlite:".length).split("?", 1)[0] ?? "")
    : url;
  if (path === "" || path === ":memory:")
    throw new ValidationError("INVALID_ARGUMENT", `database ${url} names no file`);
  return new SqliteJournalReader(path);
}
