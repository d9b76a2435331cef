import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { BatonError } from "../../common/index.js";
import { storeConformance } from "../conformance.js";
import { SqliteStore, openStore, type Store } from "../index.js";
import { loadMigrations } from "../migrations.js";
import { T0 } from "../test-records.js";

function tempDir(): { dir: string; path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "baton-sqlite-"));
  return {
    dir,
    path: join(dir, "baton.db"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

storeConformance("sqlite", () => {
  const { path, remove } = tempDir();
  const store = new SqliteStore({ path });
  return Promise.resolve({
    store,
    cleanup: async () => {
      await store.close();
      remove();
    },
  });
});

/** The store's own connection: `synchronous` is per connection, so only it can tell. */
function connectionOf(store: Store): Database.Database {
  return (store as unknown as { db: Database.Database }).db;
}

describe("SqliteStore", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function track<T extends Store>(store: T): T {
    cleanups.push(() => store.close());
    return store;
  }

  function freshPath(): string {
    const { path, remove } = tempDir();
    cleanups.push(remove);
    return path;
  }

  function readOnly(path: string): Database.Database {
    const db = new Database(path, { readonly: true });
    cleanups.push(() => void db.close());
    return db;
  }

  it("refuses a second store on a file in use with STORE_LOCKED, and opens it once the first closed", async () => {
    const path = freshPath();
    const first = track(new SqliteStore({ path }));
    await first.migrate();
    let refusal: unknown;
    try {
      track(new SqliteStore({ path }));
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toBeInstanceOf(BatonError);
    expect((refusal as BatonError).code).toBe("STORE_LOCKED");
    expect(readOnly(path).prepare("SELECT count(*) AS n FROM runs").get()).toEqual({ n: 0 });
    await first.close();
    await track(new SqliteStore({ path })).migrate();
  });

  it("puts the file in WAL mode", async () => {
    const path = freshPath();
    await track(new SqliteStore({ path })).migrate();
    expect(readOnly(path).pragma("journal_mode", { simple: true })).toBe("wal");
  });

  it("keeps tasks queued and leased before migration 5 working: no bound on deliveries, the old delivery id answers", async () => {
    const path = freshPath();
    const db = new Database(path);
    db.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
    for (const migration of loadMigrations("sqlite").filter((m) => m.version <= 4)) {
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(
        migration.version,
        migration.name,
        T0,
      );
    }
    const insert = db.prepare(
      `INSERT INTO tasks (task_key, service, command, run_id, workflow, seq, traceparent, status, attempt,
         delivery_id, worker_id, lease_ms, lease_expires_at, visible_at, created_at, updated_at)
       VALUES (?, 'payments', 'charge', 'r-1', 'order', ?, 'tp', ?, ?, ?, ?, 1000, ?, ?, ?, ?)`,
    );
    insert.run("r-1:1", 1, "leased", 1, "r-1:1@1", "w-1", T0 + 1_000, T0, T0, T0);
    insert.run("r-1:2", 2, "queued", 0, null, null, null, T0, T0, T0);
    db.close();

    const store = track(new SqliteStore({ path }));
    await store.migrate();
    expect(await store.findTask("r-1:2")).toMatchObject({
      maxAttempts: 2147483647,
      timeoutMs: null,
      queueTimeoutMs: null,
      claimedAt: null,
    });
    expect(await store.nextTaskExpiry()).toBeUndefined();
    expect(await store.heartbeatTask("r-1:1@1", T0 + 500)).toEqual({
      outcome: "ok",
      leaseExpiresAt: T0 + 1_500,
    });
    expect(
      await store.settleTask({ deliveryId: "r-1:1@1", now: T0 + 600, outcome: "completed" }),
    ).toMatchObject({ outcome: "settled" });
    const [claimed] = await store.claimTasks({
      service: "payments",
      workerId: "w-2",
      max: 1,
      now: T0 + 700,
    });
    expect(claimed?.deliveryId).toMatch(/^r-1:2@1\.[0-9a-f]{32}$/);
  });

  it("syncs FULL by default and NORMAL when asked", () => {
    const full = track(new SqliteStore({ path: freshPath() }));
    const normal = track(new SqliteStore({ path: freshPath(), synchronous: "normal" }));
    // PRAGMA synchronous: 1 = NORMAL, 2 = FULL.
    expect(connectionOf(full).pragma("synchronous", { simple: true })).toBe(2);
    expect(connectionOf(normal).pragma("synchronous", { simple: true })).toBe(1);
  });

  it("records every migration in schema_migrations, once", async () => {
    const path = freshPath();
    const store = track(new SqliteStore({ path }));
    await store.migrate();
    await store.migrate();
    const files = readdirSync(new URL("../../../migrations/sqlite/", import.meta.url))
      .filter((file) => file.endsWith(".sql"))
      .sort();
    const rows = readOnly(path)
      .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
      .all();
    expect(rows).toEqual(
      files.map((file) => ({ version: Number(file.slice(0, 4)), name: file.slice(5, -4) })),
    );
    expect(rows[0]).toEqual({ version: 1, name: "create-runs" });
  });

  it("creates the folders of a path that does not exist yet", async () => {
    const path = join(freshPath(), "..", "nested", "deeper", "baton.db");
    await track(new SqliteStore({ path })).migrate();
    expect(existsSync(path)).toBe(true);
  });

  it("rejects a failed batch with a retryable STORE_FAILED", async () => {
    const store = track(new SqliteStore({ path: ":memory:" }));
    await store.migrate();
    const at = Date.UTC(2026, 0, 1);
    const started = { position: 0, seq: null, type: "run.started", name: null, data: null, at };
    const run = {
      runId: "r-1",
      workflow: "order",
      input: null,
      createdAt: at,
      parentRunId: null,
      parentSeq: null,
      firstEntry: started,
    };
    const error = await store
      .commit([
        { type: "createRun", run },
        // Position 0 is the run.started entry just written: the journal's key refuses it.
        {
          type: "appendRun",
          runId: "r-1",
          epoch: 0,
          expectedLength: 1,
          entries: [started],
          update: { status: "running", updatedAt: at, wakeAt: null, waitingOn: null },
        },
      ])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(BatonError);
    expect(error).toMatchObject({ code: "STORE_FAILED", retryable: true });
    expect(await store.findRun("r-1")).toBeUndefined();
  });

  describe("openStore", () => {
    it("opens a SQLite file from sqlite:PATH", async () => {
      const path = freshPath();
      const store = track(openStore(`sqlite:${path}`));
      expect(store).toBeInstanceOf(SqliteStore);
      await store.migrate();
      expect(connectionOf(store).pragma("synchronous", { simple: true })).toBe(2);
      expect(
        readOnly(path).prepare("SELECT version FROM schema_migrations WHERE version = 1").get(),
      ).toEqual({ version: 1 });
    });

    it("honours ?synchronous=normal", () => {
      const store = track(openStore(`sqlite:${freshPath()}?synchronous=normal`));
      expect(connectionOf(store).pragma("synchronous", { simple: true })).toBe(1);
    });

    it("opens an in-memory store from sqlite::memory:", async () => {
      const store = track(openStore("sqlite::memory:"));
      await store.migrate();
      expect(await store.listRuns({ limit: 1 })).toEqual({ runs: [] });
    });

    it.each(["mysql://x", "sqlite:", "sqlite:x?synchronous=bogus"])(
      "refuses %j with INVALID_ARGUMENT",
      (url) => {
        let error: unknown;
        try {
          track(openStore(url));
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(BatonError);
        expect(error).toMatchObject({ code: "INVALID_ARGUMENT" });
      },
    );
  });
});

describe("SqliteStore exclusive use", () => {
  it("refuses a second store on the same file with STORE_LOCKED, naming the owner, until the first closes", async () => {
    const { path, remove } = tempDir();
    const first = new SqliteStore({ path });
    try {
      let refused: unknown;
      try {
        new SqliteStore({ path });
      } catch (e) {
        refused = e;
      }
      expect(refused).toMatchObject({
        code: "STORE_LOCKED",
        message: expect.stringMatching(
          new RegExp(`in use by another Baton process \\(pid ${process.pid} on `),
        ) as unknown,
      });
      // Readers (sqlite3, backups, tests) are not concerned.
      const reader = new Database(path, { readonly: true });
      reader.close();
    } finally {
      await first.close();
    }
    const second = new SqliteStore({ path });
    await second.migrate();
    await second.close();
    remove();
  });
});
