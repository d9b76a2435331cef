import { afterEach, describe, expect, it } from "vitest";
import { describePostgres, freshDatabase } from "../../test/support/postgres.js";
import { tempDbUrl } from "../../test/support/temp-db.js";
import { openJournalReader, openStore, type JournalReader, type Store } from "./index.js";
import { createPool } from "./postgres/postgres-pool.js";
import { T0, newRun } from "./test-records.js";

/** Five runs: r-0…r-2 waiting (one with a second journal entry), t-0 and t-1 completed. */
async function seed(store: Store): Promise<void> {
  await store.migrate();
  const results = await store.commit([
    ...["r-0", "r-1", "r-2", "t-0", "t-1"].map((runId, i) => ({
      type: "createRun" as const,
      run: newRun(runId, { createdAt: T0 + i, version: i === 1 ? 2 : 1 }),
    })),
  ]);
  expect(results.every((r) => r.ok)).toBe(true);
  const set = (runId: string, status: "waiting" | "completed", at: number) =>
    store.commit([
      {
        type: "appendRun",
        runId,
        epoch: 0,
        expectedLength: 1,
        entries:
          runId === "r-0"
            ? [{ position: 1, seq: 1, type: "step.completed", name: "a", data: "{}", at }]
            : [],
        update: { status, updatedAt: at, wakeAt: null, waitingOn: null },
      },
    ]);
  await set("r-0", "waiting", T0 + 10);
  await set("r-1", "waiting", T0 + 10);
  await set("t-1", "completed", T0 + 20);
  await set("t-0", "completed", T0 + 30);
}

async function readerContract(reader: JournalReader): Promise<void> {
  expect(await reader.countUnfinished()).toBe(3);
  const first = await reader.unfinishedRuns(undefined, 2);
  expect(first.map((r) => r.runId)).toEqual(["r-0", "r-1"]);
  expect(first.map((r) => r.version)).toEqual([1, 2]);
  const last = first[1]!;
  const rest = await reader.unfinishedRuns({ createdAt: last.createdAt, runId: last.runId }, 2);
  expect(rest.map((r) => r.runId)).toEqual(["r-2"]);
  // The terminal runs that ended last, newest first.
  expect((await reader.recentTerminalRuns(1)).map((r) => r.runId)).toEqual(["t-0"]);
  expect((await reader.recentTerminalRuns(10)).map((r) => r.runId)).toEqual(["t-0", "t-1"]);
  expect((await reader.readJournal("r-0")).map((e) => [e.position, e.type])).toEqual([
    [0, "run.started"],
    [1, "step.completed"],
  ]);
}

describe("journal reader on SQLite", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("reads runs and journals read-only beside a server that holds the database", async () => {
    const db = tempDbUrl();
    cleanups.push(db.cleanup);
    const store = openStore(db.url);
    cleanups.push(() => store.close());
    await seed(store);
    const reader = openJournalReader(db.url);
    cleanups.push(() => reader.close());
    expect(await reader.proveReadOnly()).toContain("opened read-only");
    await readerContract(reader);
    // The server goes on writing while the reader is open.
    const more = await store.commit([{ type: "createRun", run: newRun("r-3") }]);
    expect(more[0]).toMatchObject({ ok: true, created: true });
    expect(await reader.countUnfinished()).toBe(4);
  });

  it("refuses a database that does not exist, creating nothing", () => {
    const db = tempDbUrl();
    cleanups.push(db.cleanup);
    expect(() => openJournalReader(db.path)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => openJournalReader("sqlite::memory:")).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});

describePostgres("journal reader on PostgreSQL", () => {
  it("reads through a read-only session: the server refuses writes", async () => {
    const db = await freshDatabase();
    const store = openStore(db.url);
    const reader = openJournalReader(db.url);
    try {
      await seed(store);
      expect(await reader.proveReadOnly()).toContain("transaction_read_only = on");
      await readerContract(reader);
      // The session setting the reader's connections are made with: a write is refused.
      const pool = createPool({
        connectionString: db.url,
        max: 1,
        readOnly: true,
        onIdleError: () => undefined,
      });
      try {
        await expect(pool.query("DELETE FROM runs")).rejects.toMatchObject({ code: "25006" });
      } finally {
        await pool.end();
      }
      expect(await reader.countUnfinished()).toBe(3);
    } finally {
      await reader.close();
      await store.close();
      await db.drop();
    }
  });
});
