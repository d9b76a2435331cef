import { readdirSync } from "node:fs";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { describePostgres, freshDatabase } from "../../../test/support/postgres.js";
import { BatonError } from "../../common/index.js";
import { storeConformance } from "../conformance.js";
import { loadMigrations } from "../migrations.js";
import {
  PostgresStore,
  openStore,
  type JournalEntry,
  type RunUpdate,
  type Store,
  type WriteOp,
} from "../index.js";
import { T0, newRun } from "../test-records.js";

function entry(position: number): JournalEntry {
  return { position, seq: position, type: "step.completed", name: "s", data: null, at: T0 };
}

function append(
  runId: string,
  expectedLength: number,
  fields: { entries?: JournalEntry[]; update?: Partial<RunUpdate> } = {},
): WriteOp {
  return {
    type: "appendRun",
    runId,
    epoch: 0,
    expectedLength,
    entries: fields.entries ?? [entry(expectedLength)],
    update: { status: "running", updatedAt: T0, wakeAt: null, waitingOn: null, ...fields.update },
  };
}

describePostgres("PostgreSQL store", () => {
  storeConformance("postgres", async () => {
    const db = await freshDatabase();
    const store = new PostgresStore({ connectionString: db.url });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await db.drop();
      },
    };
  });

  describe("PostgresStore", () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function migratedStore(): Promise<{ store: PostgresStore; url: string }> {
      const db = await freshDatabase();
      cleanups.push(db.drop);
      const store = new PostgresStore({ connectionString: db.url });
      cleanups.push(() => store.close());
      return { store, url: db.url };
    }

    async function sql<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<R>(text)).rows;
      } finally {
        await client.end();
      }
    }

    it("records every migration in schema_migrations, once", async () => {
      const db = await freshDatabase({ migrated: false });
      cleanups.push(db.drop);
      const store = new PostgresStore({ connectionString: db.url });
      cleanups.push(() => store.close());
      await store.migrate();
      await store.migrate();
      const files = readdirSync(new URL("../../../migrations/postgres/", import.meta.url))
        .filter((file) => file.endsWith(".sql"))
        .sort();
      expect(
        await sql(db.url, "SELECT version, name FROM schema_migrations ORDER BY version"),
      ).toEqual(
        files.map((file) => ({ version: Number(file.slice(0, 4)), name: file.slice(5, -4) })),
      );
    });

    it("keeps tasks queued and leased before migration 5 working: no bound on deliveries, the old delivery id answers", async () => {
      const db = await freshDatabase({ migrated: false });
      cleanups.push(db.drop);
      await sql(
        db.url,
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
      );
      for (const migration of loadMigrations("postgres").filter((m) => m.version <= 4)) {
        await sql(db.url, migration.sql);
        await sql(
          db.url,
          `INSERT INTO schema_migrations VALUES (${migration.version}, '${migration.name}', ${T0})`,
        );
      }
      await sql(
        db.url,
        `INSERT INTO tasks (task_key, service, command, run_id, workflow, seq, traceparent, status, attempt,
           delivery_id, worker_id, lease_ms, lease_expires_at, visible_at, created_at, updated_at)
         VALUES ('r-1:1', 'payments', 'charge', 'r-1', 'order', 1, 'tp', 'leased', 1, 'r-1:1@1', 'w-1', 1000, ${T0 + 1_000}, ${T0}, ${T0}, ${T0}),
                ('r-1:2', 'payments', 'charge', 'r-1', 'order', 2, 'tp', 'queued', 0, NULL, NULL, 1000, NULL, ${T0}, ${T0}, ${T0})`,
      );
      const store = new PostgresStore({ connectionString: db.url });
      cleanups.push(() => store.close());
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

    it("applies a batch that touches one run several times in order, as one transaction", async () => {
      const { store } = await migratedStore();
      await store.migrate();
      const results = await store.commit([
        { type: "createRun", run: newRun("r-1") },
        append("r-1", 1),
        { type: "insertSignal", runId: "r-1", name: "a", payload: null, sentAt: T0 + 50 },
        append("r-1", 2, { update: { status: "waiting", wakeAt: T0 + 999 } }),
        { type: "insertSignal", runId: "r-1", name: "b", payload: null, sentAt: T0 + 70 },
        { type: "createRun", run: { ...newRun("r-1"), input: '"again"' } },
        append("r-1", 1),
      ]);
      expect(results.slice(0, 5)).toEqual([
        { ok: true, created: true },
        { ok: true },
        { ok: true, signalId: expect.any(Number) },
        { ok: true },
        { ok: true, signalId: expect.any(Number) },
      ]);
      expect(results[5]).toMatchObject({
        ok: true,
        created: false,
        run: { journalLength: 3, input: null },
      });
      expect(results[6]).toMatchObject({ ok: false, error: { code: "LEASE_LOST" } });
      const [, , first, , second] = results as Array<{ signalId: number }>;
      expect(first!.signalId).toBeLessThan(second!.signalId);
      // The second append overwrote the first signal's wake-up; the second signal brought it forward.
      expect(await store.findRun("r-1")).toMatchObject({
        status: "waiting",
        journalLength: 3,
        wakeAt: T0 + 70,
      });
      expect((await store.readJournal("r-1")).map((e) => e.position)).toEqual([0, 1, 2]);
    });

    it("rejects a failed batch with a retryable STORE_FAILED and writes nothing of it", async () => {
      const { store } = await migratedStore();
      await store.commit([{ type: "createRun", run: newRun("r-1") }]);
      const failing = store.commit([
        { type: "createRun", run: newRun("r-2") },
        // Two entries at one position: the journal's key refuses the second.
        append("r-1", 1, { entries: [entry(1), entry(1)] }),
      ]);
      await expect(failing).rejects.toBeInstanceOf(BatonError);
      await expect(failing).rejects.toMatchObject({ code: "STORE_FAILED", retryable: true });
      expect(await store.findRun("r-2")).toBeUndefined();
      expect(await store.findRun("r-1")).toMatchObject({ journalLength: 1 });
    });

    it("rejects with a retryable STORE_FAILED when the server cannot be reached", async () => {
      const store = new PostgresStore({ connectionString: "postgres://nobody:x@127.0.0.1:1/none" });
      cleanups.push(() => store.close());
      for (const call of [
        () => store.commit([append("r-1", 1)]),
        () => store.findRun("r-1"),
        () => store.migrate(),
      ]) {
        await expect(call()).rejects.toMatchObject({ code: "STORE_FAILED", retryable: true });
      }
    });

    describe("openStore", () => {
      it.each(["postgres", "postgresql"])(
        "opens a %s:// URL, with the pool size of ?pool=N",
        async (scheme) => {
          const db = await freshDatabase();
          cleanups.push(db.drop);
          const url = new URL(db.url);
          const store = openStore(
            `${scheme}://${url.username}:${url.password}@${url.host}${url.pathname}?pool=3`,
          );
          cleanups.push(() => store.close());
          expect(store).toBeInstanceOf(PostgresStore);
          expect((store as PostgresStore).options).toEqual({
            connectionString: `${scheme}://${url.username}:${url.password}@${url.host}${url.pathname}`,
            poolSize: 3,
          });
          await store.migrate();
          expect(await store.findRun("nobody")).toBeUndefined();
        },
      );

      it("with ?listen=false, subscribes to nothing (the nodes poll instead)", () => {
        const store = openStore("postgres://u:p@127.0.0.1:1/db?listen=false&sslmode=disable");
        cleanups.push(() => store.close());
        expect((store as PostgresStore).options).toEqual({
          connectionString: "postgres://u:p@127.0.0.1:1/db?sslmode=disable",
          listen: false,
        });
        expect("subscribe" in store && store.subscribe !== undefined).toBe(false);
        const listening = openStore("postgres://u:p@127.0.0.1:1/db");
        cleanups.push(() => listening.close());
        expect(typeof listening.subscribe === "function").toBe(true);
      });

      it.each([
        "postgres://h/db?pool=0",
        "postgres://h/db?pool=x",
        "postgres://h/db?pool=1001",
        "postgres://h/db?listen=no",
      ])("refuses %j with INVALID_ARGUMENT", (url) => {
        let error: unknown;
        let store: Store | undefined;
        try {
          store = openStore(url);
        } catch (e) {
          error = e;
        }
        if (store) cleanups.push(() => store.close());
        expect(error).toMatchObject({ code: "INVALID_ARGUMENT" });
      });
    });
  });
});
