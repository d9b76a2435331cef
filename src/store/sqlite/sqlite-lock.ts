import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import Database from "better-sqlite3";
import { BatonError } from "../../common/index.js";

/**
 * One process at a time per SQLite database. Two processes writing one file would each run
 * the same runs, fire the same timers and call the same services, so the second is refused.
 *
 * The lock is an operating-system lock, taken through SQLite on a small companion database
 * `PATH.lock`: the owner keeps a write transaction open on it for as long as the store is
 * open. The system drops the lock when the owner exits in any way, SIGKILL and power loss
 * included, so a crash never blocks a restart and no stale lock needs guessing about. The
 * file also records who holds it, which a refused process reads (a reader does not need the
 * lock) to say so. It is left on disk after close: removing a file another process may
 * just have opened would let two processes lock two different files.
 */
export class SqliteFileLock {
  private constructor(private readonly db: Database.Database) {}

  /** Takes the lock of the database at `path`; throws STORE_LOCKED if another store holds it. */
  static acquire(path: string): SqliteFileLock {
    const lockPath = `${path}.lock`;
    const db = new Database(lockPath);
    try {
      // Long enough to ride out the owner's own short commit below, short enough to refuse
      // a second process at once.
      db.pragma("busy_timeout = 250");
      const token = randomUUID();
      for (let attempt = 0; attempt < 5; attempt++) {
        if (!tryBegin(db)) throw lockedError(path, readOwner(db), token);
        // Who holds it is written and committed, then the lock is taken again and kept. A
        // process that slips in between takes it instead, and this one tries again.
        db.exec(
          `CREATE TABLE IF NOT EXISTS owner (
             id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL,
             since INTEGER NOT NULL, token TEXT NOT NULL)`,
        );
        db.prepare(
          "INSERT OR REPLACE INTO owner (id, pid, host, since, token) VALUES (1, ?, ?, ?, ?)",
        ).run(process.pid, hostname(), Date.now(), token);
        db.exec("COMMIT");
        if (!tryBegin(db)) continue;
        if (readOwner(db)?.token === token) return new SqliteFileLock(db);
        db.exec("ROLLBACK");
      }
      throw lockedError(path, readOwner(db), token);
    } catch (e) {
      if (db.inTransaction) db.exec("ROLLBACK");
      db.close();
      throw e;
    }
  }

  /** Gives the lock up; the file stays. Idempotent. */
  release(): void {
    if (!this.db.open) return;
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
    this.db.close();
  }
}

interface Owner {
  pid: number;
  host: string;
  since: number;
  token: string;
}

/** BEGIN IMMEDIATE takes SQLite's RESERVED lock: one holder at a time, readers still read. */
function tryBegin(db: Database.Database): boolean {
  try {
    db.exec("BEGIN IMMEDIATE");
    return true;
  } catch (e) {
    if (isBusy(e)) return false;
    throw e;
  }
}

function readOwner(db: Database.Database): Owner | undefined {
  try {
    return db.prepare("SELECT pid, host, since, token FROM owner WHERE id = 1").get() as
      Owner | undefined;
  } catch {
    return undefined;
  }
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

function lockedError(path: string, owner: Owner | undefined, ownToken: string): BatonError {
  const who =
    owner && owner.token !== ownToken
      ? ` (pid ${owner.pid} on ${owner.host}, since ${new Date(owner.since).toISOString()})`
      : "";
  return new BatonError(
    "STORE_LOCKED",
    `the database ${path} is in use by another Baton process${who}: one process at a time may ` +
      "open a SQLite database; stop that one first, or use PostgreSQL for several nodes",
    { details: owner ? { pid: owner.pid, host: owner.host } : undefined },
  );
}
