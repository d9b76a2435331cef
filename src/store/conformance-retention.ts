import { describe, expect, it } from "vitest";
import type { NewRun, NewTask, RunUpdate, Store, WriteOp } from "./store.js";
import { T0, newRun } from "./test-records.js";

const DAY = 86_400_000;

/**
 * Retention and search by tags and creation time: part of storeConformance (conformance.ts), run
 * against a fresh, migrated store per test.
 */
export function retentionConformance(getStore: () => Store): void {
  async function commitOk(op: WriteOp): Promise<void> {
    const [result] = await getStore().commit([op]);
    expect(result).toMatchObject({ ok: true });
  }

  async function create(runId: string, fields: Partial<Omit<NewRun, "runId">> = {}): Promise<void> {
    await commitOk({ type: "createRun", run: newRun(runId, fields) });
  }

  async function append(
    runId: string,
    update: Partial<RunUpdate>,
    extra: { tasks?: NewTask[]; event?: boolean } = {},
  ): Promise<void> {
    const run = await getStore().findRun(runId);
    if (!run) throw new Error(`run ${runId} is not in the store`);
    await commitOk({
      type: "appendRun",
      runId,
      epoch: run.epoch,
      expectedLength: run.journalLength,
      entries: [
        {
          position: run.journalLength,
          seq: run.journalLength,
          type: "step.completed",
          name: "s",
          data: "{}",
          at: T0 + run.journalLength,
        },
      ],
      update: {
        status: "running",
        updatedAt: T0 + 1_000,
        wakeAt: null,
        waitingOn: null,
        ...update,
      },
      ...(extra.tasks ? { enqueueTasks: extra.tasks } : {}),
      ...(extra.event
        ? {
            events: [
              {
                type: "run.completed",
                runId,
                workflow: run.workflow,
                status: update.status ?? "running",
                data: null,
                at: T0 + 1_000,
              },
            ],
          }
        : {}),
    });
  }

  /** A run with a row in every table of a run, ended `completed` with the given deleteAfter. */
  async function endedRun(
    runId: string,
    deleteAfter: number | null,
    tags = { k: runId },
  ): Promise<void> {
    await create(runId, { tags });
    await commitOk({ type: "insertSignal", runId, name: "go", payload: null, sentAt: T0 + 10 });
    await append(runId, { status: "waiting" }, { tasks: [task(runId)] });
    await append(runId, { status: "completed", output: "1", deleteAfter }, { event: true });
  }

  function task(runId: string): NewTask {
    return {
      taskKey: `${runId}:1`,
      service: "payments",
      command: "charge",
      input: null,
      runId,
      workflow: "order",
      seq: 1,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      leaseMs: 30_000,
      maxAttempts: 3,
      timeoutMs: null,
      queueTimeoutMs: null,
      visibleAt: T0,
      createdAt: T0,
    };
  }

  /** Every row the store holds of a run, table by table. */
  async function rowsOf(runId: string): Promise<Record<string, number>> {
    const store = getStore();
    const events = await store.readEvents(0, 1_000);
    const tagged = await store.listRuns({ limit: 10, tags: [{ key: "k", value: runId }] });
    return {
      runs: (await store.findRun(runId)) ? 1 : 0,
      journal: (await store.readJournal(runId)).length,
      tasks: (await store.findTask(`${runId}:1`)) ? 1 : 0,
      events: events.filter((e) => e.runId === runId).length,
      tags: tagged.runs.length,
    };
  }

  describe("retention", () => {
    it("a run keeps no deleteAfter while it runs, and gets the one of the write that ends it", async () => {
      await create("r-1");
      await append("r-1", { status: "running" });
      expect((await getStore().findRun("r-1"))?.deleteAfter).toBeUndefined();
      await append("r-1", { status: "failed", deleteAfter: T0 + DAY });
      expect((await getStore().findRun("r-1"))?.deleteAfter).toBe(T0 + DAY);
      // A retry makes it run again: it is no longer due for deletion.
      await append("r-1", { status: "running" });
      expect((await getStore().findRun("r-1"))?.deleteAfter).toBeUndefined();
      expect(await getStore().nextRunExpiry()).toBeUndefined();
    });

    it("deletes only terminal runs past their time, with every row of theirs", async () => {
      await endedRun("old", T0 + DAY);
      await endedRun("young", T0 + 3 * DAY);
      await endedRun("forever", null);
      await create("in-flight", { tags: { k: "in-flight" } });
      await append("in-flight", { status: "waiting" }, { tasks: [task("in-flight")] });
      const before = {
        young: await rowsOf("young"),
        forever: await rowsOf("forever"),
        inFlight: await rowsOf("in-flight"),
      };
      expect(await rowsOf("old")).toEqual({ runs: 1, journal: 3, tasks: 1, events: 1, tags: 1 });
      expect(await getStore().nextRunExpiry()).toBe(T0 + DAY);

      const sweep = await getStore().deleteExpiredRuns(T0 + 2 * DAY, 500);

      expect(sweep.runs).toBe(1);
      expect(sweep.rows).toMatchObject({
        runs: 1,
        journal: 3,
        tasks: 1,
        signals: 1,
        events: 1,
        run_tags: 1,
      });
      expect(await rowsOf("old")).toEqual({ runs: 0, journal: 0, tasks: 0, events: 0, tags: 0 });
      expect(await getStore().pendingSignals("old")).toEqual([]);
      expect({
        young: await rowsOf("young"),
        forever: await rowsOf("forever"),
        inFlight: await rowsOf("in-flight"),
      }).toEqual(before);
      expect(await getStore().nextRunExpiry()).toBe(T0 + 3 * DAY);
      expect(await getStore().deleteExpiredRuns(T0 + 2 * DAY, 500)).toEqual({ runs: 0, rows: {} });
    });

    it("deletes in batches of at most the limit, the earliest due first", async () => {
      for (let i = 0; i < 5; i++) {
        await create(`r-${i}`);
        await append(`r-${i}`, { status: "completed", deleteAfter: T0 + (5 - i) * 1_000 });
      }
      const sizes: number[] = [];
      const order: string[][] = [];
      for (let sweep = 0; sweep < 4; sweep++) {
        const left = new Set((await getStore().listRuns({ limit: 10 })).runs.map((r) => r.runId));
        sizes.push((await getStore().deleteExpiredRuns(T0 + DAY, 2)).runs);
        const now = new Set((await getStore().listRuns({ limit: 10 })).runs.map((r) => r.runId));
        order.push([...left].filter((id) => !now.has(id)).sort());
      }
      expect(sizes).toEqual([2, 2, 1, 0]);
      expect(order).toEqual([["r-3", "r-4"], ["r-1", "r-2"], ["r-0"], []]);
    });

    it("keeps a child until its parent is gone", async () => {
      await create("parent");
      await create("child", { parentRunId: "parent", parentSeq: 1 });
      await append("child", { status: "completed", deleteAfter: T0 + 1_000 });
      expect((await getStore().deleteExpiredRuns(T0 + DAY, 500)).runs).toBe(0);
      await append("parent", { status: "completed", deleteAfter: T0 + 2_000 });
      expect((await getStore().deleteExpiredRuns(T0 + DAY, 500)).runs).toBe(1);
      expect(await getStore().findRun("parent")).toBeUndefined();
      expect(await getStore().findRun("child")).toBeDefined();
      expect((await getStore().deleteExpiredRuns(T0 + DAY, 500)).runs).toBe(1);
      expect(await getStore().findRun("child")).toBeUndefined();
    });

    it("two sweeps at once delete each run once between them", async () => {
      for (let i = 0; i < 40; i++) {
        await create(`r-${i}`);
        await append(`r-${i}`, { status: "cancelled", deleteAfter: T0 + i });
      }
      const sweeps = await Promise.all(
        [0, 1, 2, 3].map(async () => {
          let deleted = 0;
          for (;;) {
            const { runs } = await getStore().deleteExpiredRuns(T0 + DAY, 7);
            if (runs === 0) return deleted;
            deleted += runs;
          }
        }),
      );
      expect(sweeps.reduce((a, b) => a + b, 0)).toBe(40);
      expect((await getStore().listRuns({ limit: 100 })).runs).toEqual([]);
    });
  });

  describe("tags and creation time", () => {
    async function seed(): Promise<void> {
      const runs: Array<[string, string, Record<string, string>]> = [
        ["r-1", "alpha", { customer: "c-17", region: "eu" }],
        ["r-2", "beta", { customer: "c-17" }],
        ["r-3", "alpha", { customer: "c-18", region: "eu" }],
        ["r-4", "alpha", { customer: "c-17", region: "us" }],
        ["r-5", "alpha", { customer: "c-17", region: "eu" }],
        ["r-6", "alpha", {}],
      ];
      for (const [i, [runId, workflow, tags]] of runs.entries()) {
        await create(runId, { workflow, tags, createdAt: T0 + i * 1_000 });
      }
    }

    async function ids(query: Parameters<Store["listRuns"]>[0]): Promise<string[]> {
      const found: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await getStore().listRuns(cursor === undefined ? query : { ...query, cursor });
        found.push(...page.runs.map((r) => r.runId));
        cursor = page.nextCursor;
      } while (cursor !== undefined && found.length < 100);
      return found;
    }

    it("returns a run's tags as given, and none for a run without", async () => {
      await seed();
      expect((await getStore().findRun("r-1"))?.tags).toEqual({ customer: "c-17", region: "eu" });
      expect((await getStore().findRun("r-6"))?.tags).toBeUndefined();
      const [listed] = (
        await getStore().listRuns({ limit: 1, tags: [{ key: "region", value: "us" }] })
      ).runs;
      expect(listed).toEqual(await getStore().findRun("r-4"));
    });

    it.each([
      {
        name: "one tag",
        query: { tags: [{ key: "customer", value: "c-17" }] },
        expected: ["r-5", "r-4", "r-2", "r-1"],
      },
      {
        name: "two tags, AND-ed",
        query: {
          tags: [
            { key: "customer", value: "c-17" },
            { key: "region", value: "eu" },
          ],
        },
        expected: ["r-5", "r-1"],
      },
      {
        name: "a tag no run has",
        query: { tags: [{ key: "customer", value: "c-99" }] },
        expected: [],
      },
      {
        name: "a tag and the workflow",
        query: { tags: [{ key: "customer", value: "c-17" }], workflow: "beta" },
        expected: ["r-2"],
      },
      {
        name: "a tag and a run id prefix",
        query: { tags: [{ key: "region", value: "eu" }], runIdPrefix: "r-3" },
        expected: ["r-3"],
      },
      {
        name: "a tag and a creation time range",
        query: {
          tags: [{ key: "customer", value: "c-17" }],
          createdAfter: T0 + 1_000,
          createdBefore: T0 + 4_000,
        },
        expected: ["r-4", "r-2"],
      },
      {
        name: "created at or after",
        query: { createdAfter: T0 + 3_000 },
        expected: ["r-6", "r-5", "r-4"],
      },
      { name: "created before", query: { createdBefore: T0 + 1_000 }, expected: ["r-1"] },
      {
        name: "a time range and the status",
        query: { createdAfter: T0, createdBefore: T0 + 5_000, status: "pending" as const },
        expected: ["r-5", "r-4", "r-3", "r-2", "r-1"],
      },
    ])("filters by $name, newest first, across pages", async ({ query, expected }) => {
      await seed();
      expect(await ids({ limit: 100, ...query })).toEqual(expected);
      expect(await ids({ limit: 1, ...query })).toEqual(expected);
    });
  });
}
