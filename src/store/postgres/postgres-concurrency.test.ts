import pg from "pg";
import { afterEach, expect, it } from "vitest";
import { describePostgres, freshDatabase } from "../../../test/support/postgres.js";
import { waitFor } from "../../../test/support/wait-for.js";
import type { NewTask, TaskRecord, WriteOp } from "../index.js";
import { loadMigrations } from "../migrations.js";
import { EVENTS_LOCK } from "./postgres-commit-sql.js";
import { PostgresStore } from "./postgres-store.js";
import { T0, newRun } from "../test-records.js";

const LEASE_MS = 30_000;

function newTask(seq: number): NewTask {
  return {
    taskKey: `r-1:${seq}`,
    service: "payments",
    command: "charge",
    input: null,
    runId: "r-1",
    workflow: "order",
    seq,
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    leaseMs: LEASE_MS,
    maxAttempts: 3,
    timeoutMs: null,
    queueTimeoutMs: null,
    visibleAt: T0 + (seq % 7),
    createdAt: T0,
  };
}

describePostgres("PostgresStore under concurrency", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** `count` stores, each with a pool of its own (as separate nodes would have), on one database. */
  async function nodes(
    count: number,
    migrated = true,
  ): Promise<{ stores: PostgresStore[]; url: string }> {
    const db = await freshDatabase({ migrated });
    cleanups.push(db.drop);
    const stores = Array.from({ length: count }, () => {
      const store = new PostgresStore({ connectionString: db.url, poolSize: 10 });
      cleanups.push(() => store.close());
      return store;
    });
    return { stores, url: db.url };
  }

  /** Claims in `parallel` loops per store, `max` at a time, until a claim comes back empty. */
  async function drain(stores: PostgresStore[], now: number): Promise<TaskRecord[]> {
    const claimed: TaskRecord[] = [];
    const loop = async (store: PostgresStore, workerId: string): Promise<void> => {
      for (;;) {
        const tasks = await store.claimTasks({ service: "payments", workerId, max: 5, now });
        if (tasks.length === 0) return;
        claimed.push(...tasks);
      }
    };
    await Promise.all(
      stores.flatMap((store, s) => Array.from({ length: 8 }, (_, w) => loop(store, `w-${s}-${w}`))),
    );
    return claimed;
  }

  it("never delivers a task twice to claims racing from two pools, nor after its lease expired", async () => {
    const { stores, url } = await nodes(2);
    const [a] = stores as [PostgresStore, PostgresStore];
    const TASKS = 600;
    await a.commit([{ type: "createRun", run: newRun("r-1") }]);
    const enqueue: WriteOp = {
      type: "appendRun",
      runId: "r-1",
      epoch: 0,
      expectedLength: 1,
      entries: [],
      update: { status: "waiting", updatedAt: T0, wakeAt: null, waitingOn: null },
      enqueueTasks: Array.from({ length: TASKS }, (_, i) => newTask(i + 1)),
    };
    expect(await a.commit([enqueue])).toEqual([{ ok: true }]);

    for (const [now, attempt] of [
      [T0 + 10, 1],
      [T0 + 10 + LEASE_MS, 2],
    ] as const) {
      const claimed = await drain(stores, now);
      expect(claimed).toHaveLength(TASKS);
      expect(new Set(claimed.map((t) => t.taskKey)).size).toBe(TASKS);
      expect(new Set(claimed.map((t) => t.attempt))).toEqual(new Set([attempt]));
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(
      "SELECT status, attempt::int, count(*)::int AS n FROM tasks GROUP BY 1, 2",
    );
    await client.end();
    expect(rows).toEqual([{ status: "leased", attempt: 2, n: TASKS }]);
  });

  it("ends each task once when two nodes sweep expiries at once while workers' replies race them", async () => {
    const { stores } = await nodes(2);
    const [a, b] = stores as [PostgresStore, PostgresStore];
    const TASKS = 300;
    await a.commit([{ type: "createRun", run: newRun("r-1") }]);
    const lastDeliveries: WriteOp = {
      type: "appendRun",
      runId: "r-1",
      epoch: 0,
      expectedLength: 1,
      entries: [],
      update: { status: "waiting", updatedAt: T0, wakeAt: null, waitingOn: null },
      enqueueTasks: Array.from({ length: TASKS }, (_, i) => ({
        ...newTask(i + 1),
        maxAttempts: 1,
      })),
    };
    expect(await a.commit([lastDeliveries])).toEqual([{ ok: true }]);
    const claimed = await drain(stores, T0 + 10);
    expect(claimed).toHaveLength(TASKS);

    // A reply just inside its lease (by its node's clock) against sweeps just past it (by
    // theirs): the row lock lets exactly one of them end each task.
    const expired: TaskRecord[] = [];
    const sweep = async (store: PostgresStore): Promise<void> => {
      for (;;) {
        const batch = await store.expireTasks(T0 + 10 + LEASE_MS, 7);
        if (batch.length === 0 && (await store.nextTaskExpiry()) === undefined) return;
        expired.push(...batch);
      }
    };
    const [replies] = await Promise.all([
      Promise.all(
        claimed.map((task, i) =>
          (i % 2 ? a : b).settleTask({
            deliveryId: task.deliveryId!,
            now: T0 + 9 + LEASE_MS,
            outcome: "completed",
          }),
        ),
      ),
      sweep(a),
      sweep(b),
      sweep(a),
      sweep(b),
    ]);
    const settled = replies.filter((r) => r.outcome === "settled").length;
    expect(replies.filter((r) => r.outcome !== "settled").every((r) => r.outcome === "lost")).toBe(
      true,
    );
    expect(new Set(expired.map((t) => t.taskKey)).size).toBe(expired.length);
    expect(settled + expired.length).toBe(TASKS);
    for (const task of expired) expect(task).toMatchObject({ status: "expired", retryable: false });
  });

  it("creates each run once when two pools create the same run ids at once, in opposite orders", async () => {
    const { stores } = await nodes(2);
    const [a, b] = stores as [PostgresStore, PostgresStore];
    const ids = Array.from({ length: 100 }, (_, i) => `r-${String(i).padStart(3, "0")}`);
    const create = (runId: string): WriteOp => ({ type: "createRun", run: newRun(runId) });
    // One big batch against batches of ten in reverse: the two may deadlock on the run ids'
    // unique index; the server aborts one, and the store applies that batch again.
    const reversed = [...ids].reverse();
    const [fromA, ...fromB] = await Promise.all([
      a.commit(ids.map(create)),
      ...Array.from({ length: 10 }, (_, i) =>
        b.commit(reversed.slice(i * 10, i * 10 + 10).map(create)),
      ),
    ]);
    const results = new Map<string, unknown[]>();
    ids.forEach((id, i) => results.set(id, [fromA[i]]));
    fromB.flat().forEach((result, i) => results.get(reversed[i]!)!.push(result));
    for (const [runId, pair] of results) {
      expect(
        pair.filter((r) => (r as { created?: boolean }).created === true),
        runId,
      ).toHaveLength(1);
      expect(
        pair.filter((r) => (r as { created?: boolean }).created === false),
        runId,
      ).toEqual([{ ok: true, created: false, run: expect.objectContaining({ runId }) }]);
    }
    expect((await a.listRuns({ limit: 1000 })).runs).toHaveLength(ids.length);
  });

  it("migrates once when several nodes start at the same time", async () => {
    const { stores, url } = await nodes(4, false);
    await Promise.all(stores.map((store) => store.migrate()));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ version: number }>(
      "SELECT version FROM schema_migrations ORDER BY version",
    );
    await client.end();
    expect(rows.map((r) => r.version)).toEqual(loadMigrations("postgres").map((m) => m.version));
    expect(await stores[0]!.findRun("nobody")).toBeUndefined();
  });

  it("gives readEvents no event while one with a smaller id may still commit", async () => {
    const { stores, url } = await nodes(1);
    const store = stores[0]!;
    await store.commit([{ type: "createRun", run: newRun("r-1") }]);
    // Another node's batch, as the commit statement does it: shared lock, then an id, not committed yet.
    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    cleanups.push(() => slow.end());
    await slow.query("BEGIN");
    await slow.query("SELECT pg_advisory_xact_lock_shared($1)", [EVENTS_LOCK]);
    await slow.query(
      "INSERT INTO events (type, run_id, workflow, status, data, at) VALUES ('run.slow', 'r-0', 'order', 'running', NULL, 1)",
    );
    const event = {
      type: "run.fast",
      runId: "r-1",
      workflow: "order",
      status: "running" as const,
      data: null,
      at: 2,
    };
    await store.commit([
      {
        type: "appendRun",
        runId: "r-1",
        epoch: 0,
        expectedLength: 1,
        entries: [],
        update: { status: "running", updatedAt: T0, wakeAt: null, waitingOn: null },
        events: [event],
      },
    ]);

    const read = store.readEvents(0, 10);
    await waitFor(
      async () =>
        (await slow.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))
          .rowCount,
      { what: "readEvents to wait for the uncommitted event" },
    );
    await slow.query("COMMIT");
    const events = await read;
    expect(events.map((e) => e.type)).toEqual(["run.slow", "run.fast"]);
    expect(events[0]!.position!).toBeLessThan(events[1]!.position!);
  });
});
