import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BatonError, type RunStatus } from "../common/index.js";
import type {
  EventRecord,
  JournalEntry,
  NewRun,
  NewTask,
  RunRecord,
  RunUpdate,
  Store,
  TaskRecord,
  WriteOp,
  WriteResult,
} from "./store.js";
import { scheduleConformance } from "./schedule-conformance.js";
import { retentionConformance } from "./conformance-retention.js";
import { T0, newRun as baseNewRun } from "./test-records.js";
import { webhookConformance } from "./webhook-conformance.js";

type AppendRun = Extract<WriteOp, { type: "appendRun" }>;
type AppendFields = Partial<Omit<AppendRun, "type" | "runId">>;

function newRun(runId: string, fields: Partial<Omit<NewRun, "runId">> = {}): NewRun {
  return baseNewRun(runId, { input: JSON.stringify({ runId }), ...fields });
}

function createRun(runId: string, fields: Partial<Omit<NewRun, "runId">> = {}): WriteOp {
  return { type: "createRun", run: newRun(runId, fields) };
}

function entry(position: number, fields: Partial<JournalEntry> = {}): JournalEntry {
  return {
    position,
    seq: position,
    type: "step.completed",
    name: `step-${position}`,
    data: JSON.stringify({ position }),
    at: T0 + position,
    ...fields,
  };
}

function update(fields: Partial<RunUpdate> = {}): RunUpdate {
  return { status: "running", updatedAt: T0 + 1_000, wakeAt: null, waitingOn: null, ...fields };
}

function signal(
  runId: string,
  name: string,
  sentAt: number,
  payload: string | null = null,
): WriteOp {
  return { type: "insertSignal", runId, name, payload, sentAt };
}

function event(runId: string, type: string, at: number): EventRecord {
  return { type, runId, workflow: "order", status: "completed", data: JSON.stringify({ at }), at };
}

function userEvent(topic: string, eventId: string, at: number): EventRecord & { eventId: string } {
  return {
    type: topic,
    eventId,
    runId: null,
    workflow: null,
    status: null,
    data: JSON.stringify({ eventId }),
    at,
  };
}

function newTask(taskKey: string, fields: Partial<NewTask> = {}): NewTask {
  return {
    taskKey,
    service: "payments",
    command: "charge",
    input: '{"cents":100}',
    runId: "r-1",
    workflow: "order",
    seq: 1,
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    leaseMs: 30_000,
    maxAttempts: 3,
    timeoutMs: null,
    queueTimeoutMs: null,
    visibleAt: T0,
    createdAt: T0,
    ...fields,
  };
}

/** Matches the delivery id of one delivery: `{taskKey}@{attempt}.{128-bit random token}`. */
function aDeliveryOf(taskKey: string, attempt: number): string {
  const key = taskKey.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return expect.stringMatching(new RegExp(`^${key}@${attempt}\\.[0-9a-f]{32}$`)) as string;
}

/** Matches any number; typed as one so expected records keep their shape. */
function aNumber(): number {
  return expect.any(Number) as number;
}

/** Anything a call throws or rejects with, whether it throws synchronously or rejects. */
async function caught(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/**
 * Resolves with the probe's first truthy answer; fails after `timeoutMs`. Node leases are on the
 * database's clock on PostgreSQL, so tests of their lapse use real time and wait for it.
 */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The contract every `Store` honours, run once per implementation against a fresh, migrated
 * store per test. `open` gives a new empty store and a `cleanup` that closes it (even if the
 * test already did) and removes whatever it created.
 */
export function storeConformance(
  name: string,
  open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>,
): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
    });

    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    async function commitOne(op: WriteOp): Promise<WriteResult> {
      const results = await store.commit([op]);
      expect(results).toHaveLength(1);
      return results[0]!;
    }

    async function getRun(runId: string): Promise<RunRecord> {
      const run = await store.findRun(runId);
      if (!run) throw new Error(`run ${runId} is not in the store`);
      return run;
    }

    /** An appendRun that fits the run as stored now (its epoch and journal length). */
    async function appendOp(runId: string, fields: AppendFields = {}): Promise<AppendRun> {
      const run = await getRun(runId);
      return {
        type: "appendRun",
        runId,
        epoch: run.epoch,
        expectedLength: run.journalLength,
        entries: [],
        update: update(),
        ...fields,
      };
    }

    async function setState(runId: string, fields: Partial<RunUpdate>): Promise<void> {
      expect(await commitOne(await appendOp(runId, { update: update(fields) }))).toEqual({
        ok: true,
      });
    }

    async function createRuns(
      ...runs: Array<[string, Partial<Omit<NewRun, "runId">>?]>
    ): Promise<void> {
      const results = await store.commit(runs.map(([runId, fields]) => createRun(runId, fields)));
      for (const result of results) expect(result).toMatchObject({ ok: true, created: true });
    }

    retentionConformance(() => store);

    describe("migrate", () => {
      it("can run again on a migrated store and keeps its data", async () => {
        await createRuns(["r-1"]);
        await store.migrate();
        await store.migrate();
        expect(await store.findRun("r-1")).toMatchObject({ runId: "r-1" });
      });
    });

    describe("commit", () => {
      it("applies an empty batch as no results", async () => {
        expect(await store.commit([])).toEqual([]);
      });

      it("rejects a batch that fails mid-way and writes nothing of it", async () => {
        await createRuns(["kept"]);
        const kept = await getRun("kept");
        const failing = store.commit([
          createRun("half-made"),
          signal("kept", "go", T0 + 10),
          await appendOp("kept", { entries: [entry(1)], update: update({ status: "waiting" }) }),
          // Two entries at one position: the journal's key refuses the second one.
          await appendOp("kept", { expectedLength: 2, entries: [entry(2), entry(2)] }),
        ]);
        await expect(failing).rejects.toThrow();

        expect(await store.findRun("half-made")).toBeUndefined();
        expect(await store.readJournal("half-made")).toEqual([]);
        expect(await store.pendingSignals("kept")).toEqual([]);
        expect(await store.readJournal("kept")).toHaveLength(1);
        expect(await getRun("kept")).toEqual(kept);
      });

      it("keeps working after a batch failed", async () => {
        await createRuns(["r-1"]);
        await expect(
          store.commit([await appendOp("r-1", { entries: [entry(1), entry(1)] })]),
        ).rejects.toThrow();
        expect(await commitOne(await appendOp("r-1", { entries: [entry(1)] }))).toEqual({
          ok: true,
        });
        expect(await store.readJournal("r-1")).toHaveLength(2);
      });
    });

    describe("createRun", () => {
      it("creates a pending run with its first journal entry", async () => {
        const run = newRun("r-1", { workflow: "shipping", input: '{"qty":2}', createdAt: T0 + 5 });
        expect(await commitOne({ type: "createRun", run })).toMatchObject({
          ok: true,
          created: true,
        });
        expect(await store.findRun("r-1")).toEqual({
          runId: "r-1",
          workflow: "shipping",
          status: "pending",
          input: '{"qty":2}',
          output: null,
          error: null,
          parentRunId: null,
          parentSeq: null,
          createdAt: T0 + 5,
          updatedAt: T0 + 5,
          wakeAt: null,
          waitingOn: null,
          journalLength: 1,
          epoch: aNumber(),
          owner: null,
          generation: 1,
          version: 1,
        });
        expect(await store.readJournal("r-1")).toEqual([run.firstEntry]);
      });

      it("keeps the workflow version a run starts with (1 when not given)", async () => {
        await createRuns(["r-1", { version: 3 }], ["r-2"]);
        await commitOne({
          type: "appendRun",
          runId: "r-1",
          epoch: (await getRun("r-1")).epoch,
          expectedLength: 1,
          entries: [],
          update: { status: "waiting", updatedAt: T0 + 1, wakeAt: null, waitingOn: null },
        });
        expect((await getRun("r-1")).version).toBe(3);
        expect((await getRun("r-2")).version).toBe(1);
        expect((await store.listRuns({ limit: 10 })).runs.map((r) => [r.runId, r.version])).toEqual(
          expect.arrayContaining([
            ["r-1", 3],
            ["r-2", 1],
          ]),
        );
      });

      it("keeps a null input as null", async () => {
        await createRuns(["r-1", { input: null }]);
        expect((await getRun("r-1")).input).toBeNull();
      });

      it("reports created: false with the existing run when the run id is taken", async () => {
        await createRuns(["r-1"]);
        const existing = await getRun("r-1");
        const again = await commitOne(
          createRun("r-1", { workflow: "other", input: "2", createdAt: T0 + 99 }),
        );
        expect(again).toEqual({ ok: true, created: false, run: existing });
        expect(await getRun("r-1")).toEqual(existing);
        expect(await store.readJournal("r-1")).toHaveLength(1);
      });

      it("creates exactly one run when one batch carries the same run id twice", async () => {
        const results = await store.commit([
          createRun("r-1", { input: "1" }),
          createRun("r-1", { input: "2" }),
        ]);
        expect(results[0]).toMatchObject({ ok: true, created: true });
        expect(results[1]).toMatchObject({
          ok: true,
          created: false,
          run: { runId: "r-1", input: "1" },
        });
        expect((await store.listRuns({ limit: 10 })).runs).toHaveLength(1);
        expect(await store.readJournal("r-1")).toHaveLength(1);
      });

      it("creates exactly one run when concurrent commits carry the same run id", async () => {
        const results = await Promise.all(
          [1, 2, 3].map((n) => commitOne(createRun("r-1", { input: String(n) }))),
        );
        expect(results.filter((r) => r.ok && r.created === true)).toHaveLength(1);
        expect(results.filter((r) => r.ok && r.created === false)).toHaveLength(2);
        expect((await store.listRuns({ limit: 10 })).runs).toHaveLength(1);
      });
    });

    describe("findRun", () => {
      it("returns undefined for an unknown run", async () => {
        expect(await store.findRun("nobody")).toBeUndefined();
      });
    });

    describe("appendRun", () => {
      it("appends entries, advances journalLength and updates the run's state", async () => {
        await createRuns(["r-1"]);
        const waitingOn = {
          kind: "timer",
          reason: "sleeping until 2026-01-01T00:01:00.000Z",
          seq: 2,
          until: "2026-01-01T00:01:00.000Z",
        } as const;
        const result = await commitOne(
          await appendOp("r-1", {
            entries: [
              entry(1),
              entry(2, { seq: 2, type: "sleep.started", name: null, data: null }),
            ],
            update: { status: "waiting", updatedAt: T0 + 50, wakeAt: T0 + 60_000, waitingOn },
          }),
        );
        expect(result).toEqual({ ok: true });
        expect(await getRun("r-1")).toMatchObject({
          status: "waiting",
          updatedAt: T0 + 50,
          wakeAt: T0 + 60_000,
          waitingOn,
          journalLength: 3,
          createdAt: T0,
          output: null,
          error: null,
        });
      });

      it("applies an append without entries to the state alone", async () => {
        await createRuns(["r-1"]);
        await setState("r-1", { status: "compensating", updatedAt: T0 + 7 });
        expect(await getRun("r-1")).toMatchObject({
          status: "compensating",
          updatedAt: T0 + 7,
          journalLength: 1,
        });
        expect(await store.readJournal("r-1")).toHaveLength(1);
      });

      it("sets output and error when given, keeps them when omitted and clears them with null", async () => {
        await createRuns(["r-1"]);
        const error = {
          code: "OUT_OF_STOCK",
          message: "sku 42 is out of stock",
          details: { sku: 42 },
        };
        await setState("r-1", { output: '{"ok":true}', error });
        expect(await getRun("r-1")).toMatchObject({ output: '{"ok":true}', error });
        await setState("r-1", { status: "waiting" });
        expect(await getRun("r-1")).toMatchObject({
          status: "waiting",
          output: '{"ok":true}',
          error,
        });
        await setState("r-1", { output: null, error: null });
        expect(await getRun("r-1")).toMatchObject({ output: null, error: null });
      });

      it("clears wakeAt and waitingOn when the update says null", async () => {
        await createRuns(["r-1"]);
        await setState("r-1", {
          status: "waiting",
          wakeAt: T0 + 5,
          waitingOn: { kind: "signal", reason: "waiting for go", signal: "go" },
        });
        await setState("r-1", { status: "running" });
        expect(await getRun("r-1")).toMatchObject({
          status: "running",
          wakeAt: null,
          waitingOn: null,
        });
      });

      it.each([
        ["a stale expectedLength", { expectedLength: 0 }],
        ["an expectedLength past the end", { expectedLength: 5 }],
      ])("reports LEASE_LOST for %s and writes nothing of that op", async (_label, wrong) => {
        await fencedAppendWritesNothing(wrong);
      });

      it("reports LEASE_LOST for a wrong epoch and writes nothing of that op", async () => {
        await createRuns(["probe"]);
        await fencedAppendWritesNothing({ epoch: (await getRun("probe")).epoch + 1 });
      });

      async function fencedAppendWritesNothing(wrong: {
        expectedLength?: number;
        epoch?: number;
      }): Promise<void> {
        await createRuns(
          ["r-1"],
          ["other", { createdAt: T0 + 1 }],
          ["sibling", { createdAt: T0 + 2 }],
        );
        await setState("sibling", { status: "waiting" });
        const sent = await commitOne(signal("r-1", "go", T0 + 3));
        const before = await getRun("r-1");
        const siblingBefore = await getRun("sibling");
        const signalId = sent.ok ? sent.signalId! : -1;

        const results = await store.commit([
          await appendOp("r-1", {
            ...wrong,
            entries: [entry(1)],
            update: update({ status: "completed", updatedAt: T0 + 500, output: "1" }),
            consumedSignals: [{ signalId, seq: 1 }],
            createRuns: [newRun("child", { parentRunId: "r-1", parentSeq: 1 })],
            wakeRuns: ["sibling"],
            events: [event("r-1", "run.completed", T0 + 500)],
          }),
          await appendOp("other", {
            entries: [entry(1)],
            update: update({ status: "waiting", updatedAt: T0 + 9 }),
          }),
          signal("other", "ping", T0 + 10),
        ]);

        expect(results[0]).toMatchObject({ ok: false, error: { code: "LEASE_LOST" } });
        expect(results[1]).toEqual({ ok: true });
        expect(results[2]).toMatchObject({ ok: true, signalId: aNumber() });

        expect(await getRun("r-1")).toEqual(before);
        expect(await store.readJournal("r-1")).toHaveLength(1);
        expect(await store.pendingSignals("r-1")).toMatchObject([{ signalId }]);
        expect(await store.findRun("child")).toBeUndefined();
        expect(await getRun("sibling")).toEqual(siblingBefore);
        expect(await store.readEvents(0, 10)).toEqual([]);

        expect(await getRun("other")).toMatchObject({
          status: "waiting",
          journalLength: 2,
          wakeAt: T0 + 10,
        });
        expect(await store.pendingSignals("other")).toMatchObject([{ name: "ping" }]);
      }

      it("reports ok: false for a run that does not exist", async () => {
        const result = await commitOne({
          type: "appendRun",
          runId: "nobody",
          epoch: 0,
          expectedLength: 1,
          entries: [entry(1)],
          update: update(),
        });
        expect(result.ok).toBe(false);
        expect(await store.readJournal("nobody")).toEqual([]);
      });

      it("creates child runs atomically with the parent's entries", async () => {
        await createRuns(["parent"]);
        const child = newRun("parent:1", {
          workflow: "shipping",
          input: '{"to":"x"}',
          createdAt: T0 + 20,
          parentRunId: "parent",
          parentSeq: 1,
        });
        const result = await commitOne(
          await appendOp("parent", {
            entries: [
              entry(1, { type: "child.started", data: JSON.stringify({ childRunId: "parent:1" }) }),
            ],
            update: update({
              status: "waiting",
              waitingOn: {
                kind: "child",
                reason: "waiting for child run parent:1",
                childRunId: "parent:1",
              },
            }),
            createRuns: [child],
          }),
        );
        expect(result).toEqual({ ok: true });
        expect(await getRun("parent")).toMatchObject({ status: "waiting", journalLength: 2 });
        expect(await getRun("parent:1")).toMatchObject({
          workflow: "shipping",
          status: "pending",
          input: '{"to":"x"}',
          parentRunId: "parent",
          parentSeq: 1,
          createdAt: T0 + 20,
          journalLength: 1,
        });
        expect(await store.readJournal("parent:1")).toEqual([child.firstEntry]);
      });

      it("wakes the runs in wakeRuns at the update's time", async () => {
        await createRuns(["parent"], ["child", { parentRunId: "parent", parentSeq: 1 }], ["done"]);
        await setState("parent", { status: "waiting" });
        await setState("done", { status: "failed" });
        await commitOne(
          await appendOp("child", {
            entries: [entry(1, { type: "run.completed", seq: null })],
            update: update({ status: "completed", updatedAt: T0 + 300, output: "7" }),
            wakeRuns: ["parent", "done"],
          }),
        );
        expect(await getRun("parent")).toMatchObject({ status: "waiting", wakeAt: T0 + 300 });
        expect(await getRun("done")).toMatchObject({ status: "failed", wakeAt: null });
        expect(await store.findDueRuns(T0 + 300, 10)).toEqual([
          { runId: "parent", wakeAt: T0 + 300 },
        ]);
      });
    });

    describe("readJournal", () => {
      it("returns the entries oldest first with exactly the fields written", async () => {
        const run = newRun("r-1");
        await commitOne({ type: "createRun", run });
        const first = [
          entry(1),
          entry(2, { seq: null, name: null, data: null, type: "run.waiting" }),
        ];
        await commitOne(await appendOp("r-1", { entries: first }));
        const second = [entry(3, { data: '{"nested":{"a":[1,2]}}', at: T0 + 123 })];
        await commitOne(await appendOp("r-1", { entries: second }));
        expect(await store.readJournal("r-1")).toEqual([run.firstEntry, ...first, ...second]);
      });

      it("returns an empty journal for an unknown run", async () => {
        expect(await store.readJournal("nobody")).toEqual([]);
      });

      it("keeps each run's journal apart", async () => {
        await createRuns(["a"], ["b"]);
        await commitOne(await appendOp("a", { entries: [entry(1, { name: "only-a" })] }));
        expect((await store.readJournal("b")).map((e) => e.position)).toEqual([0]);
        expect((await store.readJournal("a")).map((e) => e.name)).toEqual([null, "only-a"]);
      });
    });

    describe("signals", () => {
      it("gives increasing signal ids and lists unconsumed signals oldest first", async () => {
        await createRuns(["r-1"], ["r-2"]);
        const results = await store.commit([
          signal("r-1", "first", T0 + 1, '{"n":1}'),
          signal("r-2", "elsewhere", T0 + 2),
          signal("r-1", "second", T0 + 3),
        ]);
        const ids = results.map((r) => (r.ok ? r.signalId : undefined));
        expect(ids).toEqual([aNumber(), aNumber(), aNumber()]);
        expect(ids[0]! < ids[1]! && ids[1]! < ids[2]!).toBe(true);
        const later = await commitOne(signal("r-1", "third", T0 + 4));
        expect(later.ok && later.signalId! > ids[2]!).toBe(true);

        expect(await store.pendingSignals("r-1")).toEqual([
          { signalId: ids[0], runId: "r-1", name: "first", payload: '{"n":1}', sentAt: T0 + 1 },
          { signalId: ids[2], runId: "r-1", name: "second", payload: null, sentAt: T0 + 3 },
          {
            signalId: later.ok ? later.signalId : undefined,
            runId: "r-1",
            name: "third",
            payload: null,
            sentAt: T0 + 4,
          },
        ]);
        expect(await store.pendingSignals("nobody")).toEqual([]);
      });

      it("drops signals consumed by an append from the pending ones", async () => {
        await createRuns(["r-1"]);
        const results = await store.commit([
          signal("r-1", "a", T0 + 1),
          signal("r-1", "b", T0 + 2),
          signal("r-1", "c", T0 + 3),
        ]);
        const [a, b, c] = results.map((r) => (r.ok ? r.signalId! : -1));
        await commitOne(
          await appendOp("r-1", {
            entries: [entry(1, { type: "signal.received", name: "b" })],
            consumedSignals: [{ signalId: b!, seq: 1 }],
          }),
        );
        expect((await store.pendingSignals("r-1")).map((s) => s.signalId)).toEqual([a, c]);
        await commitOne(
          await appendOp("r-1", {
            consumedSignals: [
              { signalId: a!, seq: 2 },
              { signalId: c!, seq: 3 },
            ],
          }),
        );
        expect(await store.pendingSignals("r-1")).toEqual([]);
      });

      it("wakes a waiting run at the signal's send time", async () => {
        await createRuns(["r-1"]);
        await setState("r-1", {
          status: "waiting",
          waitingOn: { kind: "signal", reason: "waiting for go", signal: "go" },
        });
        expect(await store.findDueRuns(T0 + 500, 10)).toEqual([]);
        await commitOne(signal("r-1", "go", T0 + 500));
        expect(await getRun("r-1")).toMatchObject({ status: "waiting", wakeAt: T0 + 500 });
        expect(await store.findDueRuns(T0 + 499, 10)).toEqual([]);
        expect(await store.findDueRuns(T0 + 500, 10)).toEqual([{ runId: "r-1", wakeAt: T0 + 500 }]);
      });

      it("brings a later wake-up forward to the send time but never pushes an earlier one back", async () => {
        await createRuns(["later"], ["earlier"]);
        await setState("later", { status: "waiting", wakeAt: T0 + 10_000 });
        await setState("earlier", { status: "waiting", wakeAt: T0 + 100 });
        await store.commit([signal("later", "go", T0 + 500), signal("earlier", "go", T0 + 500)]);
        expect((await getRun("later")).wakeAt).toBe(T0 + 500);
        expect((await getRun("earlier")).wakeAt).toBe(T0 + 100);
      });

      it("wakes a running run too, so a restart cannot lose the signal", async () => {
        await createRuns(["r-1"]);
        await setState("r-1", { status: "running" });
        await commitOne(signal("r-1", "go", T0 + 500));
        expect((await getRun("r-1")).wakeAt).toBe(T0 + 500);
      });

      it("leaves a terminal run's wakeAt alone", async () => {
        await createRuns(["r-1"]);
        await setState("r-1", { status: "completed", output: "1" });
        expect(await commitOne(signal("r-1", "late", T0 + 500))).toMatchObject({ ok: true });
        expect((await getRun("r-1")).wakeAt).toBeNull();
        expect(await store.findDueRuns(T0 + 10_000, 10)).toEqual([]);
        expect(await store.findRunsToResume(T0 + 10_000)).toEqual([]);
      });
    });

    describe("events", () => {
      it("stores the events of an append and pages them by position", async () => {
        await createRuns(["r-1"], ["r-2"]);
        const events = [
          event("r-1", "run.completed", T0 + 1),
          { ...event("r-2", "run.failed", T0 + 2), status: "failed" as RunStatus, data: null },
          event("r-2", "run.cancelled", T0 + 3),
        ];
        await commitOne(await appendOp("r-1", { events: events.slice(0, 1) }));
        await commitOne(await appendOp("r-2", { events: events.slice(1) }));

        const all = await store.readEvents(0, 10);
        const ids = all.map((e) => e.position!);
        expect(all).toEqual(
          events.map((e, i) => ({ ...e, position: ids[i], eventId: `~${ids[i]}`, user: false })),
        );
        expect([...ids].sort((x, y) => x - y)).toEqual(ids);
        expect(new Set(ids).size).toBe(3);

        const firstPage = await store.readEvents(0, 2);
        expect(firstPage.map((e) => e.position)).toEqual(ids.slice(0, 2));
        expect((await store.readEvents(firstPage[1]!.position!, 2)).map((e) => e.position)).toEqual(
          ids.slice(2),
        );
        expect(await store.readEvents(ids[2]!, 10)).toEqual([]);
      });

      it("publishes a user event outside any run, once per id, with its trigger runs", async () => {
        const placed = userEvent("order.placed", "o-1", T0 + 5);
        const trigger = newRun("order.placed:o-1", { workflow: "ship", input: placed.data });
        const first = await store.publishEvent({ event: placed, createRuns: [trigger] });
        expect(first).toMatchObject({ created: true, createdRuns: ["order.placed:o-1"] });
        const stored = { ...placed, position: aNumber(), user: true };
        expect(first.event).toEqual(stored);
        expect(await getRun("order.placed:o-1")).toMatchObject({
          workflow: "ship",
          status: "pending",
          input: placed.data,
        });
        expect(await store.readJournal("order.placed:o-1")).toEqual([trigger.firstEntry]);

        // The same id again, with other data: nothing is written, the first event is the answer.
        const again = await store.publishEvent({
          event: { ...placed, data: '{"other":true}', at: T0 + 9 },
          createRuns: [newRun("order.placed:o-1-bis", { workflow: "ship" })],
        });
        expect(again).toEqual({ created: false, event: first.event });
        expect(await store.findRun("order.placed:o-1-bis")).toBeUndefined();
        expect(await store.readEvents(0, 10)).toEqual([first.event]);
      });

      it("creates a trigger run only if its id is free", async () => {
        await createRuns(["order.placed:o-2", { workflow: "ship" }]);
        const result = await store.publishEvent({
          event: userEvent("order.placed", "o-2", T0 + 5),
          createRuns: [newRun("order.placed:o-2", { workflow: "ship" })],
        });
        expect(result).toMatchObject({ created: true, createdRuns: [] });
        expect(await store.readJournal("order.placed:o-2")).toHaveLength(1);
      });

      it("writes a run's user event once per id and keeps Baton's own events apart", async () => {
        await createRuns(["r-1"]);
        const emitted = {
          ...userEvent("order.shipped", "r-1:3", T0 + 2),
          runId: "r-1",
          workflow: "order",
        };
        await commitOne(await appendOp("r-1", { entries: [entry(1)], events: [emitted] }));
        // Another append carrying the same id (a publisher that got there first, say).
        await commitOne(
          await appendOp("r-1", {
            entries: [entry(2)],
            events: [{ ...emitted, data: "2" }, event("r-1", "run.completed", T0 + 3)],
          }),
        );
        const all = await store.readEvents(0, 10);
        expect(all.map((e) => [e.type, e.eventId, e.user, e.data])).toEqual([
          ["order.shipped", "r-1:3", true, emitted.data],
          [
            "run.completed",
            `~${all[1]!.position}`,
            false,
            event("r-1", "run.completed", T0 + 3).data,
          ],
        ]);
        expect(all[0]).toMatchObject({ runId: "r-1", workflow: "order", status: null });
        expect(await getRun("r-1")).toMatchObject({ journalLength: 3 });
      });

      it("reads one topic after a position", async () => {
        expect(await store.lastEventPosition()).toBe(0);
        await store.publishEvent({ event: userEvent("a.b", "1", T0 + 1), createRuns: [] });
        await store.publishEvent({ event: userEvent("c.d", "2", T0 + 2), createRuns: [] });
        await store.publishEvent({ event: userEvent("a.b", "3", T0 + 3), createRuns: [] });
        const ab = await store.readEvents(0, 10, { topic: "a.b" });
        expect(ab.map((e) => e.eventId)).toEqual(["1", "3"]);
        expect(
          (await store.readEvents(ab[0]!.position!, 10, { topic: "a.b" })).map((e) => e.eventId),
        ).toEqual(["3"]);
        expect(await store.readEvents(0, 10, { topic: "x.y" })).toEqual([]);
        const all = await store.readEvents(0, 10);
        expect(await store.lastEventPosition()).toBe(all[2]!.position);
      });

      it("marks the runs waiting for a new event's topic due, and only those", async () => {
        await createRuns(["waits"], ["waits-other"], ["sleeps"], ["emitter"]);
        const waitingFor = (topic: string) => ({
          status: "waiting" as RunStatus,
          wakeAt: T0 + 60_000,
          waitingOn: { kind: "event" as const, reason: `waiting for event ${topic}`, topic },
        });
        await setState("waits", waitingFor("payment.settled"));
        await setState("waits-other", waitingFor("payment.refused"));
        await setState("sleeps", { status: "waiting", wakeAt: T0 + 60_000 });
        await store.publishEvent({
          event: userEvent("payment.settled", "p-1", T0 + 10),
          createRuns: [],
        });
        expect((await getRun("waits")).wakeAt).toBe(T0 + 10);
        expect((await getRun("waits-other")).wakeAt).toBe(T0 + 60_000);
        expect((await getRun("sleeps")).wakeAt).toBe(T0 + 60_000);

        // Emitted by a run: the same.
        await commitOne(
          await appendOp("emitter", {
            entries: [entry(1)],
            events: [{ ...userEvent("payment.refused", "e-1", T0 + 20), runId: "emitter" }],
          }),
        );
        expect((await getRun("waits-other")).wakeAt).toBe(T0 + 20);
        // A repeated id is no new event: it wakes nobody.
        await setState("waits", waitingFor("payment.settled"));
        await store.publishEvent({
          event: userEvent("payment.settled", "p-1", T0 + 30),
          createRuns: [],
        });
        expect((await getRun("waits")).wakeAt).toBe(T0 + 60_000);
      });
    });

    describe("listRuns", () => {
      // Newest first: createdAt descending, then runId descending among equal createdAt.
      const newestFirst = ["a-4", "b-2", "a-3", "b-1", "a-2", "a-1"];

      async function seed(): Promise<void> {
        await createRuns(
          ["a-1", { workflow: "alpha", createdAt: T0 + 1 }],
          ["b-1", { workflow: "beta", createdAt: T0 + 2 }],
          ["a-2", { workflow: "alpha", createdAt: T0 + 2 }],
          ["a-3", { workflow: "alpha", createdAt: T0 + 3 }],
          ["b-2", { workflow: "beta", createdAt: T0 + 3 }],
          ["a-4", { workflow: "alpha", createdAt: T0 + 4 }],
        );
      }

      async function listAll(query: {
        limit: number;
        workflow?: string;
        status?: RunStatus;
      }): Promise<string[][]> {
        const pages: string[][] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listRuns(cursor === undefined ? query : { ...query, cursor });
          pages.push(page.runs.map((r) => r.runId));
          cursor = page.nextCursor;
          if (pages.length > 20) throw new Error("listRuns keeps giving cursors");
        } while (cursor !== undefined);
        return pages;
      }

      it("returns runs newest first, by createdAt then runId", async () => {
        await seed();
        const page = await store.listRuns({ limit: 10 });
        expect(page.runs.map((r) => r.runId)).toEqual(newestFirst);
        expect(page.nextCursor).toBeUndefined();
        expect(page.runs[0]).toEqual(await getRun("a-4"));
      });

      it.each([1, 2, 4, 6])("pages with limit %i without duplicates or gaps", async (limit) => {
        await seed();
        const pages = await listAll({ limit });
        expect(pages.flat()).toEqual(newestFirst);
        expect(pages).toHaveLength(Math.ceil(newestFirst.length / limit));
        for (const page of pages.slice(0, -1)) expect(page).toHaveLength(limit);
      });

      it("keeps paging where it was while newer runs are added", async () => {
        await seed();
        const first = await store.listRuns({ limit: 3 });
        await createRuns(
          ["a-9", { workflow: "alpha", createdAt: T0 + 9 }],
          ["a-0", { createdAt: T0 + 3 }],
        );
        const second = await store.listRuns({ limit: 3, cursor: first.nextCursor! });
        expect(first.runs.map((r) => r.runId)).toEqual(newestFirst.slice(0, 3));
        expect(second.runs.map((r) => r.runId)).toEqual(["a-0", ...newestFirst.slice(3, 5)]);
      });

      it("filters by workflow and by status, and pages through the filtered runs", async () => {
        await seed();
        await setState("a-3", { status: "completed" });
        await setState("a-1", { status: "completed" });
        await setState("b-1", { status: "completed" });
        expect((await listAll({ limit: 2, workflow: "alpha" })).flat()).toEqual([
          "a-4",
          "a-3",
          "a-2",
          "a-1",
        ]);
        expect((await listAll({ limit: 1, status: "completed" })).flat()).toEqual([
          "a-3",
          "b-1",
          "a-1",
        ]);
        expect(
          (await listAll({ limit: 1, workflow: "alpha", status: "completed" })).flat(),
        ).toEqual(["a-3", "a-1"]);
        expect((await store.listRuns({ limit: 10, workflow: "gamma" })).runs).toEqual([]);
        expect((await store.listRuns({ limit: 10, status: "waiting" })).runs).toEqual([]);
      });

      it("filters by run id prefix", async () => {
        await createRuns(
          ["order-1"],
          ["order-2", { createdAt: T0 + 1 }],
          ["refund-1", { createdAt: T0 + 2 }],
          ["xorder-3"],
        );
        expect(
          (await store.listRuns({ limit: 10, runIdPrefix: "order-" })).runs.map((r) => r.runId),
        ).toEqual(["order-2", "order-1"]);
        expect(
          (await store.listRuns({ limit: 10, runIdPrefix: "refund-1" })).runs.map((r) => r.runId),
        ).toEqual(["refund-1"]);
        expect((await store.listRuns({ limit: 10, runIdPrefix: "" })).runs).toHaveLength(4);
        expect((await store.listRuns({ limit: 10, runIdPrefix: "zzz" })).runs).toEqual([]);
      });

      it("matches % _ and \\ in a run id prefix literally", async () => {
        await createRuns(["ab_1"], ["abc1"], ["ab-1"], ["ab~1"]);
        const ids = async (runIdPrefix: string): Promise<string[]> =>
          (await store.listRuns({ limit: 10, runIdPrefix })).runs.map((r) => r.runId).sort();
        expect(await ids("ab_")).toEqual(["ab_1"]);
        expect(await ids("ab%")).toEqual([]);
        expect(await ids("%")).toEqual([]);
        expect(await ids("_")).toEqual([]);
        expect(await ids("ab\\")).toEqual([]);
        expect(await ids("ab")).toEqual(["ab-1", "ab_1", "abc1", "ab~1"]);
      });

      it("matches a run id prefix case-sensitively", async () => {
        await createRuns(["order-1"], ["ORDER-2"]);
        expect(
          (await store.listRuns({ limit: 10, runIdPrefix: "order-" })).runs.map((r) => r.runId),
        ).toEqual(["order-1"]);
      });

      it("rejects a malformed cursor with a BatonError of code INVALID_CURSOR", async () => {
        await seed();
        const b64 = (text: string): string => Buffer.from(text).toString("base64url");
        for (const cursor of [
          "not a cursor!",
          "",
          b64("[1]"),
          b64('["1","a-1"]'),
          b64('{"createdAt":1,"runId":"a-1"}'),
          b64("[1,2]"),
        ]) {
          const error = await caught(() => store.listRuns({ limit: 2, cursor }));
          expect(error, `cursor ${JSON.stringify(cursor)}`).toBeInstanceOf(BatonError);
          expect(error).toMatchObject({ code: "INVALID_CURSOR" });
        }
      });

      it("reports a malformed cursor through the returned promise", async () => {
        await expect(store.listRuns({ limit: 2, cursor: "not a cursor!" })).rejects.toMatchObject({
          code: "INVALID_CURSOR",
        });
      });
    });

    describe("findRunsToResume", () => {
      it("returns unfinished runs and waiting runs that are due, but not terminal runs nor waiting runs due later", async () => {
        const now = T0 + 1_000;
        const states: Array<[string, Partial<RunUpdate> | undefined]> = [
          ["pending", undefined],
          ["running", { status: "running" }],
          ["compensating", { status: "compensating" }],
          ["waiting-due", { status: "waiting", wakeAt: now - 1 }],
          ["waiting-now", { status: "waiting", wakeAt: now }],
          ["waiting-later", { status: "waiting", wakeAt: now + 1 }],
          ["waiting-forever", { status: "waiting", wakeAt: null }],
          ["completed", { status: "completed" }],
          ["compensated", { status: "compensated" }],
          ["failed", { status: "failed" }],
          ["cancelled", { status: "cancelled" }],
        ];
        await createRuns(...states.map(([runId]): [string] => [runId]));
        for (const [runId, state] of states) if (state) await setState(runId, state);

        expect((await store.findRunsToResume(now)).sort()).toEqual(
          ["compensating", "pending", "running", "waiting-due", "waiting-now"].sort(),
        );
      });
    });

    describe("findDueRuns and nextWakeAt", () => {
      it("lists waiting runs that are due, earliest first, up to the limit", async () => {
        await createRuns(["c"], ["a"], ["b"], ["later"], ["never"]);
        await setState("c", { status: "waiting", wakeAt: T0 + 30 });
        await setState("a", { status: "waiting", wakeAt: T0 + 10 });
        await setState("b", { status: "waiting", wakeAt: T0 + 20 });
        await setState("later", { status: "waiting", wakeAt: T0 + 1_000 });
        await setState("never", { status: "waiting" });

        expect(await store.findDueRuns(T0 + 30, 10)).toEqual([
          { runId: "a", wakeAt: T0 + 10 },
          { runId: "b", wakeAt: T0 + 20 },
          { runId: "c", wakeAt: T0 + 30 },
        ]);
        expect(await store.findDueRuns(T0 + 30, 2)).toEqual([
          { runId: "a", wakeAt: T0 + 10 },
          { runId: "b", wakeAt: T0 + 20 },
        ]);
        expect(await store.findDueRuns(T0 + 9, 10)).toEqual([]);
      });

      it("with a node id, lists only the due runs that node may wake: unowned or its own", async () => {
        await createRuns(["mine", { owner: "node-a" }], ["free"], ["theirs", { owner: "node-b" }]);
        await setState("mine", { status: "waiting", wakeAt: T0 + 30 });
        await setState("free", { status: "waiting", wakeAt: T0 + 20 });
        await setState("theirs", { status: "waiting", wakeAt: T0 + 10 });
        expect(await store.findDueRuns(T0 + 30, 10, "node-a")).toEqual([
          { runId: "free", wakeAt: T0 + 20 },
          { runId: "mine", wakeAt: T0 + 30 },
        ]);
        expect(await store.nextWakeAt("node-a")).toBe(T0 + 20);
        expect(await store.nextWakeAt("node-c")).toBe(T0 + 20);
        expect(await store.findDueRuns(T0 + 30, 10)).toHaveLength(3);
        expect(await store.nextWakeAt()).toBe(T0 + 10);
      });

      it("gives the earliest wake-up time, or undefined when no run has one", async () => {
        expect(await store.nextWakeAt()).toBeUndefined();
        await createRuns(["a"], ["b"], ["c"]);
        expect(await store.nextWakeAt()).toBeUndefined();
        await setState("a", { status: "waiting", wakeAt: T0 + 500 });
        await setState("b", { status: "waiting", wakeAt: T0 + 200 });
        expect(await store.nextWakeAt()).toBe(T0 + 200);
        await setState("b", { status: "completed" });
        expect(await store.nextWakeAt()).toBe(T0 + 500);
        await setState("a", { status: "running" });
        expect(await store.nextWakeAt()).toBeUndefined();
      });
    });

    describe("countRunsByWorkflow", () => {
      it("counts runs per workflow, version and status", async () => {
        expect(await store.countRunsByWorkflow()).toEqual([]);
        await createRuns(
          ["a-1", { workflow: "alpha" }],
          ["a-2", { workflow: "alpha" }],
          ["a-3", { workflow: "alpha" }],
          ["b-1", { workflow: "beta" }],
          ["b-2", { workflow: "beta", version: 2 }],
        );
        await setState("a-3", { status: "completed" });
        await setState("b-1", { status: "waiting" });
        const counts = await store.countRunsByWorkflow();
        const key = (c: { workflow: string; version: number; status: string }): string =>
          `${c.workflow}/${c.version}/${c.status}`;
        expect([...counts].sort((x, y) => key(x).localeCompare(key(y)))).toEqual([
          { workflow: "alpha", version: 1, status: "completed", count: 1 },
          { workflow: "alpha", version: 1, status: "pending", count: 2 },
          { workflow: "beta", version: 1, status: "waiting", count: 1 },
          { workflow: "beta", version: 2, status: "pending", count: 1 },
        ]);
      });
    });

    describe("durable queue", () => {
      async function enqueue(runId: string, ...tasks: NewTask[]): Promise<void> {
        expect(await commitOne(await appendOp(runId, { enqueueTasks: tasks }))).toEqual({
          ok: true,
        });
      }

      async function getTask(taskKey: string): Promise<TaskRecord> {
        const task = await store.findTask(taskKey);
        if (!task) throw new Error(`task ${taskKey} is not in the store`);
        return task;
      }

      async function claimOne(
        workerId: string,
        now: number,
        service = "payments",
      ): Promise<TaskRecord> {
        const claimed = await store.claimTasks({ service, workerId, max: 1, now });
        expect(claimed).toHaveLength(1);
        return claimed[0]!;
      }

      beforeEach(async () => {
        await createRuns(["r-1"]);
      });

      it("queues the tasks of an append with the run's entries", async () => {
        const task = newTask("r-1:1");
        await enqueue("r-1", task);
        expect(await store.findTask("r-1:1")).toEqual({
          ...task,
          status: "queued",
          attempt: 0,
          deliveryId: null,
          workerId: null,
          claimedAt: null,
          leaseExpiresAt: null,
          output: null,
          error: null,
          retryable: null,
          updatedAt: aNumber(),
          nodeId: null,
        });
        expect(await store.findTask("r-1:2")).toBeUndefined();
      });

      it("keeps the first task when the same key is enqueued again", async () => {
        await enqueue("r-1", newTask("r-1:1", { input: "1" }));
        await enqueue("r-1", newTask("r-1:1", { input: "2", command: "refund" }));
        expect(await getTask("r-1:1")).toMatchObject({
          input: "1",
          command: "charge",
          status: "queued",
        });
      });

      it("queues nothing from a fenced append", async () => {
        const fenced = await appendOp("r-1", {
          expectedLength: 7,
          enqueueTasks: [newTask("r-1:1")],
        });
        expect(await commitOne(fenced)).toMatchObject({ ok: false, error: { code: "LEASE_LOST" } });
        expect(await store.findTask("r-1:1")).toBeUndefined();
      });

      it("leases visible tasks of one service as attempt 1 under a delivery id {taskKey}@1.{token}", async () => {
        await enqueue(
          "r-1",
          newTask("r-1:1"),
          newTask("r-1:2", { seq: 2 }),
          newTask("r-1:3", { seq: 3, visibleAt: T0 + 5_000 }),
          newTask("r-1:4", { seq: 4, service: "shipping" }),
        );
        const claimed = await store.claimTasks({
          service: "payments",
          workerId: "w-1",
          max: 10,
          now: T0 + 100,
        });
        expect(claimed.map((t) => t.taskKey).sort()).toEqual(["r-1:1", "r-1:2"]);
        for (const task of claimed) {
          expect(task).toMatchObject({
            status: "leased",
            attempt: 1,
            deliveryId: aDeliveryOf(task.taskKey, 1),
            workerId: "w-1",
            claimedAt: T0 + 100,
            leaseExpiresAt: T0 + 100 + 30_000,
          });
          expect(await getTask(task.taskKey)).toEqual(task);
        }
        expect(await getTask("r-1:3")).toMatchObject({ status: "queued", attempt: 0 });
        expect(await getTask("r-1:4")).toMatchObject({ status: "queued", attempt: 0 });
      });

      it("leases at most max tasks and never one that is already leased", async () => {
        await enqueue(
          "r-1",
          newTask("r-1:1"),
          newTask("r-1:2", { seq: 2 }),
          newTask("r-1:3", { seq: 3 }),
        );
        const first = await store.claimTasks({
          service: "payments",
          workerId: "w-1",
          max: 2,
          now: T0,
        });
        const second = await store.claimTasks({
          service: "payments",
          workerId: "w-2",
          max: 2,
          now: T0,
        });
        expect(first).toHaveLength(2);
        expect(second).toHaveLength(1);
        const keys = [...first, ...second].map((t) => t.taskKey).sort();
        expect(keys).toEqual(["r-1:1", "r-1:2", "r-1:3"]);
        expect(
          await store.claimTasks({ service: "payments", workerId: "w-3", max: 5, now: T0 + 1 }),
        ).toEqual([]);
      });

      it("delivers a task again as attempt + 1 once its lease expired", async () => {
        await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000 }));
        await claimOne("w-1", T0);
        expect(
          await store.claimTasks({ service: "payments", workerId: "w-2", max: 1, now: T0 + 999 }),
        ).toEqual([]);
        const again = await claimOne("w-2", T0 + 1_000);
        expect(again).toMatchObject({
          attempt: 2,
          deliveryId: aDeliveryOf("r-1:1", 2),
          workerId: "w-2",
          leaseExpiresAt: T0 + 2_000,
          status: "leased",
        });
      });

      it("settles a live delivery once, reports a repeat as duplicate, and marks the run due", async () => {
        const enqueueing = await appendOp("r-1", {
          enqueueTasks: [newTask("r-1:1")],
          update: update({ status: "waiting" }),
        });
        expect(await commitOne(enqueueing)).toEqual({ ok: true });
        const { deliveryId } = await claimOne("w-1", T0);
        const reply = {
          deliveryId: deliveryId!,
          now: T0 + 50,
          outcome: "completed",
          output: '{"id":"ch_1"}',
        } as const;

        const settled = await store.settleTask(reply);
        expect(settled).toMatchObject({
          outcome: "settled",
          task: {
            taskKey: "r-1:1",
            status: "completed",
            output: '{"id":"ch_1"}',
            leaseExpiresAt: null,
          },
        });
        expect(await getTask("r-1:1")).toMatchObject({
          status: "completed",
          output: '{"id":"ch_1"}',
        });
        expect(await getRun("r-1")).toMatchObject({ status: "waiting", wakeAt: T0 + 50 });

        expect(await store.settleTask({ ...reply, now: T0 + 60 })).toMatchObject({
          outcome: "duplicate",
          task: { status: "completed" },
        });
      });

      it("records a failure with its error and whether it may be retried", async () => {
        await enqueue("r-1", newTask("r-1:1"));
        const { deliveryId } = await claimOne("w-1", T0);
        const error = {
          code: "CARD_DECLINED",
          message: "card declined",
          details: { type: "Declined" },
        };
        const result = await store.settleTask({
          deliveryId: deliveryId!,
          now: T0 + 5,
          outcome: "failed",
          error,
          retryable: false,
        });
        expect(result).toMatchObject({
          outcome: "settled",
          task: { status: "failed", error, retryable: false },
        });
        expect(await getTask("r-1:1")).toMatchObject({
          status: "failed",
          error,
          retryable: false,
          output: null,
        });
      });

      it("refuses replies and heartbeats for a delivery whose lease was lost", async () => {
        await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000 }));
        const old = await claimOne("w-1", T0);
        expect(
          await store.settleTask({
            deliveryId: old.deliveryId!,
            now: T0 + 1_000,
            outcome: "completed",
          }),
        ).toMatchObject({
          outcome: "lost",
        });
        expect(await store.heartbeatTask(old.deliveryId!, T0 + 1_000)).toEqual({ outcome: "lost" });

        const current = await claimOne("w-2", T0 + 1_000);
        expect(
          await store.settleTask({
            deliveryId: old.deliveryId!,
            now: T0 + 1_001,
            outcome: "completed",
          }),
        ).toMatchObject({
          outcome: "lost",
        });
        expect(await store.heartbeatTask(old.deliveryId!, T0 + 1_001)).toEqual({ outcome: "lost" });
        expect(await getTask("r-1:1")).toMatchObject({
          status: "leased",
          deliveryId: current.deliveryId,
          output: null,
        });
      });

      it("answers not_found for a delivery id it never gave out", async () => {
        await enqueue("r-1", newTask("r-1:1"));
        await claimOne("w-1", T0);
        const token = "0123456789abcdef0123456789abcdef";
        for (const deliveryId of [
          "nope@1",
          "r-1:1@1",
          "r-1:1@2",
          "r-1:1",
          "r-1:1@x",
          "@1",
          `nope@1.${token}`,
          `r-1:1@1.${token}`,
          `r-1:1@2.${token}`,
        ]) {
          expect(await store.settleTask({ deliveryId, now: T0, outcome: "completed" })).toEqual({
            outcome: "not_found",
          });
          expect(await store.heartbeatTask(deliveryId, T0)).toEqual({ outcome: "not_found" });
        }
      });

      it("extends a live lease by the task's lease time on a heartbeat", async () => {
        await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000 }));
        const { deliveryId } = await claimOne("w-1", T0);
        expect(await store.heartbeatTask(deliveryId!, T0 + 900)).toEqual({
          outcome: "ok",
          leaseExpiresAt: T0 + 1_900,
        });
        expect((await getTask("r-1:1")).leaseExpiresAt).toBe(T0 + 1_900);
        expect(
          await store.claimTasks({ service: "payments", workerId: "w-2", max: 1, now: T0 + 1_500 }),
        ).toEqual([]);
        await store.settleTask({ deliveryId: deliveryId!, now: T0 + 1_600, outcome: "completed" });
        expect(await store.heartbeatTask(deliveryId!, T0 + 1_700)).toEqual({ outcome: "lost" });
      });

      it("requeues a task for another attempt, not before its visibleAt", async () => {
        await enqueue("r-1", newTask("r-1:1"));
        const first = await claimOne("w-1", T0);
        await store.settleTask({
          deliveryId: first.deliveryId!,
          now: T0 + 1,
          outcome: "failed",
          error: { code: "X", message: "x" },
          retryable: true,
        });
        await commitOne(
          await appendOp("r-1", { requeueTasks: [{ taskKey: "r-1:1", visibleAt: T0 + 500 }] }),
        );
        expect(await getTask("r-1:1")).toMatchObject({
          status: "queued",
          visibleAt: T0 + 500,
          deliveryId: null,
          leaseExpiresAt: null,
          error: null,
          retryable: null,
        });
        expect(
          await store.claimTasks({ service: "payments", workerId: "w-1", max: 1, now: T0 + 499 }),
        ).toEqual([]);
        expect(await claimOne("w-1", T0 + 500)).toMatchObject({
          attempt: 2,
          deliveryId: aDeliveryOf("r-1:1", 2),
        });
      });

      it("withdraws a queued task, marks a leased one withdrawing, and leaves finished ones alone", async () => {
        await enqueue(
          "r-1",
          newTask("r-1:1"),
          newTask("r-1:2", { seq: 2, visibleAt: T0 + 10 }),
          newTask("r-1:3", { seq: 3, visibleAt: T0 + 2 }),
        );
        expect(await claimOne("w-1", T0)).toMatchObject({ taskKey: "r-1:1" });
        const done = await claimOne("w-1", T0 + 2);
        await store.settleTask({ deliveryId: done.deliveryId!, now: T0 + 3, outcome: "completed" });
        await commitOne(await appendOp("r-1", { withdrawTasks: ["r-1:1", "r-1:2", "r-1:3"] }));
        expect(await getTask("r-1:1")).toMatchObject({ status: "withdrawing" });
        expect(await getTask("r-1:2")).toMatchObject({ status: "withdrawn" });
        expect(await getTask("r-1:3")).toMatchObject({ status: "completed" });
        expect(
          await store.claimTasks({ service: "payments", workerId: "w-2", max: 5, now: T0 + 10 }),
        ).toEqual([]);
      });

      it("never requeues a task a worker holds", async () => {
        await enqueue("r-1", newTask("r-1:1"), newTask("r-1:2", { seq: 2 }));
        const held = await claimOne("w-1", T0);
        const withdrawing = await claimOne("w-1", T0);
        await commitOne(await appendOp("r-1", { withdrawTasks: [withdrawing.taskKey] }));
        await commitOne(
          await appendOp("r-1", {
            requeueTasks: [
              { taskKey: held.taskKey, visibleAt: T0 + 1 },
              { taskKey: withdrawing.taskKey, visibleAt: T0 + 1 },
            ],
          }),
        );
        expect(await getTask(held.taskKey)).toMatchObject({
          status: "leased",
          deliveryId: held.deliveryId,
        });
        expect(await getTask(withdrawing.taskKey)).toMatchObject({
          status: "withdrawing",
          deliveryId: withdrawing.deliveryId,
        });
      });

      it("gives the earliest time a task of a service becomes deliverable", async () => {
        expect(await store.nextVisibleAt("payments")).toBeUndefined();
        await enqueue(
          "r-1",
          newTask("r-1:1", { visibleAt: T0 + 300 }),
          newTask("r-1:2", { seq: 2, visibleAt: T0 + 900 }),
          newTask("r-1:3", { seq: 3, service: "shipping", visibleAt: T0 + 100 }),
        );
        expect(await store.nextVisibleAt("payments")).toBe(T0 + 300);
        expect(await store.nextVisibleAt("shipping")).toBe(T0 + 100);
        // Leased until T0 + 300 + 100: its lease expiry now comes before the other task's visibleAt.
        await store.claimTasks({ service: "payments", workerId: "w-1", max: 1, now: T0 + 300 });
        expect(await getTask("r-1:1")).toMatchObject({ status: "leased" });
        expect(await store.nextVisibleAt("payments")).toBe(T0 + 900);
        await commitOne(await appendOp("r-1", { withdrawTasks: ["r-1:2"] }));
        expect(await store.nextVisibleAt("payments")).toBe(T0 + 300 + 30_000);
      });

      describe("deliveries handed out through a node", () => {
        /** Claims every deliverable payments task through `nodeId`, on the real clock. */
        const claimThrough = (nodeId: string, workerId = "w-1"): Promise<TaskRecord[]> =>
          store.claimTasks({ service: "payments", workerId, max: 10, now: Date.now(), nodeId });

        it("records the node, and delivers again once that node's lease lapsed — long before the task's own lease — with deliveries left and not withdrawing", async () => {
          await enqueue(
            "r-1",
            newTask("r-1:1", { leaseMs: 60_000, maxAttempts: 3 }),
            newTask("r-1:2", { seq: 2, leaseMs: 60_000, maxAttempts: 1 }),
            newTask("r-1:3", { seq: 3, leaseMs: 60_000, maxAttempts: 3 }),
          );
          await store.renewNode("node-a", Date.now(), 1_500);
          await store.renewNode("node-b", Date.now(), 60_000);
          const first = await claimThrough("node-a");
          expect(first.map((t) => [t.taskKey, t.nodeId]).sort()).toEqual([
            ["r-1:1", "node-a"],
            ["r-1:2", "node-a"],
            ["r-1:3", "node-a"],
          ]);
          await commitOne(await appendOp("r-1", { withdrawTasks: ["r-1:3"] }));
          // node-a lives: nothing to deliver.
          expect(await claimThrough("node-b", "w-2")).toEqual([]);
          const again = await until("node-a's lease to lapse", async () => {
            const claimed = await claimThrough("node-b", "w-2");
            return claimed.length > 0 && claimed;
          });
          expect(again).toHaveLength(1);
          expect(again[0]).toMatchObject({
            taskKey: "r-1:1",
            attempt: 2,
            workerId: "w-2",
            nodeId: "node-b",
            deliveryId: aDeliveryOf("r-1:1", 2),
          });
          // The last delivery is left to its lease (expireTasks); the withdrawing one too.
          expect(await getTask("r-1:2")).toMatchObject({ status: "leased", attempt: 1 });
          expect(await getTask("r-1:3")).toMatchObject({ status: "withdrawing", attempt: 1 });
          // node-b lives: its delivery stays its own.
          expect(await claimThrough("node-b", "w-3")).toEqual([]);
        });

        it("forgets the node once the worker heartbeats: the task's lease alone governs it then", async () => {
          await enqueue(
            "r-1",
            newTask("r-1:1", { leaseMs: 60_000 }),
            newTask("r-1:2", { seq: 2, leaseMs: 60_000 }),
          );
          await store.renewNode("node-a", Date.now(), 1_500);
          const claimed = await claimThrough("node-a");
          const beating = claimed.find((t) => t.taskKey === "r-1:1")!;
          expect(await store.heartbeatTask(beating.deliveryId!, Date.now())).toMatchObject({
            outcome: "ok",
          });
          expect((await getTask("r-1:1")).nodeId).toBeNull();
          // The other delivery of node-a shows when its lease lapsed.
          const again = await until("node-a's lease to lapse", async () => {
            const found = await claimThrough("node-b", "w-2");
            return found.length > 0 && found;
          });
          expect(again.map((t) => t.taskKey)).toEqual(["r-1:2"]);
          expect(await getTask("r-1:1")).toMatchObject({
            status: "leased",
            attempt: 1,
            deliveryId: beating.deliveryId,
          });
        });

        it("wakes pollers for another node's lease: nextVisibleAt with `now` includes it, on the caller's clock", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 60_000 }));
          const before = Date.now();
          await store.renewNode("node-a", before, 5_000);
          const after = Date.now();
          await claimThrough("node-a");
          const at = await store.nextVisibleAt("payments", Date.now(), "node-b");
          expect(at).toBeGreaterThanOrEqual(before + 5_000 - 250);
          expect(at).toBeLessThanOrEqual(after + 5_000 + 250);
          // Not for the node's own lease, nor without `now`: then the task's lease alone.
          expect(await store.nextVisibleAt("payments", Date.now(), "node-a")).toBeGreaterThan(
            after + 50_000,
          );
          expect(await store.nextVisibleAt("payments")).toBeGreaterThan(after + 50_000);
        });
      });

      it("counts tasks per service and status", async () => {
        expect(await store.taskCounts()).toEqual([]);
        await enqueue(
          "r-1",
          newTask("r-1:1"),
          newTask("r-1:2", { seq: 2, visibleAt: T0 + 1_000 }),
          newTask("r-1:3", { seq: 3, service: "shipping" }),
        );
        await claimOne("w-1", T0);
        const key = (c: { service: string; status: string }): string => `${c.service}/${c.status}`;
        expect(
          [...(await store.taskCounts())].sort((x, y) => key(x).localeCompare(key(y))),
        ).toEqual([
          { service: "payments", status: "leased", count: 1 },
          { service: "payments", status: "queued", count: 1 },
          { service: "shipping", status: "queued", count: 1 },
        ]);
        // A withdrawing task is still in a worker's hands: counted apart, never dropped.
        await claimOne("w-2", T0 + 1_000);
        await commitOne(await appendOp("r-1", { withdrawTasks: ["r-1:1"] }));
        expect(
          [...(await store.taskCounts())].sort((x, y) => key(x).localeCompare(key(y))),
        ).toEqual([
          { service: "payments", status: "leased", count: 1 },
          { service: "payments", status: "withdrawing", count: 1 },
          { service: "shipping", status: "queued", count: 1 },
        ]);
      });

      describe("delivery ids", () => {
        it("draws a fresh random token for every delivery", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000 }), newTask("r-1:2", { seq: 2 }));
          const first = await store.claimTasks({
            service: "payments",
            workerId: "w-1",
            max: 2,
            now: T0,
          });
          const again = await claimOne("w-2", T0 + 1_000);
          const ids = [...first, again].map((t) => t.deliveryId!);
          expect(ids).toEqual([
            aDeliveryOf("r-1:1", 1),
            aDeliveryOf("r-1:2", 1),
            aDeliveryOf("r-1:1", 2),
          ]);
          const tokens = ids.map((id) => id.slice(id.indexOf(".") + 1));
          expect(new Set(tokens).size).toBe(3);
        });

        it("answers not_found for a wrong token, for the current delivery and for an earlier one", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000 }));
          const old = await claimOne("w-1", T0);
          const current = await claimOne("w-2", T0 + 1_000);
          const forge = (id: string): string => id.slice(0, -1) + (id.endsWith("0") ? "1" : "0");
          for (const deliveryId of [forge(old.deliveryId!), forge(current.deliveryId!)]) {
            expect(
              await store.settleTask({ deliveryId, now: T0 + 1_001, outcome: "completed" }),
            ).toEqual({ outcome: "not_found" });
            expect(await store.heartbeatTask(deliveryId, T0 + 1_001)).toEqual({
              outcome: "not_found",
            });
          }
          // The earlier delivery, named with its own token, is known: its lease was lost.
          expect(
            await store.settleTask({
              deliveryId: old.deliveryId!,
              now: T0 + 1_001,
              outcome: "completed",
            }),
          ).toMatchObject({ outcome: "lost" });
          expect(await getTask("r-1:1")).toMatchObject({
            status: "leased",
            deliveryId: current.deliveryId,
          });
        });
      });

      describe("maxAttempts", () => {
        it("never delivers a task again once its last delivery's lease expired", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000, maxAttempts: 2 }));
          await claimOne("w-1", T0);
          expect(await claimOne("w-2", T0 + 1_000)).toMatchObject({ attempt: 2 });
          expect(await store.nextVisibleAt("payments")).toBeUndefined();
          expect(
            await store.claimTasks({
              service: "payments",
              workerId: "w-3",
              max: 5,
              now: T0 + 5_000,
            }),
          ).toEqual([]);
          expect(await getTask("r-1:1")).toMatchObject({ status: "leased", attempt: 2 });
        });

        it("counts a requeued task's deliveries on from where they were", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000, maxAttempts: 2 }));
          const first = await claimOne("w-1", T0);
          await store.settleTask({
            deliveryId: first.deliveryId!,
            now: T0 + 1,
            outcome: "failed",
            error: { code: "X", message: "x" },
            retryable: true,
          });
          await commitOne(
            await appendOp("r-1", { requeueTasks: [{ taskKey: "r-1:1", visibleAt: T0 + 10 }] }),
          );
          expect(await claimOne("w-1", T0 + 10)).toMatchObject({ attempt: 2 });
          expect(
            await store.claimTasks({
              service: "payments",
              workerId: "w-2",
              max: 1,
              now: T0 + 1_010,
            }),
          ).toEqual([]);
          expect(await store.nextTaskExpiry()).toBe(T0 + 1_010);
          // The first delivery's late reply is still told apart from a guess.
          expect(
            await store.settleTask({
              deliveryId: first.deliveryId!,
              now: T0 + 20,
              outcome: "completed",
            }),
          ).toMatchObject({ outcome: "lost" });
        });
      });

      describe("timeoutMs", () => {
        it("leases a delivery until the sooner of its lease and its timeout", async () => {
          await enqueue(
            "r-1",
            newTask("r-1:1", { leaseMs: 1_000, timeoutMs: 400 }),
            newTask("r-1:2", { seq: 2, leaseMs: 1_000, timeoutMs: 5_000 }),
          );
          const claimed = await store.claimTasks({
            service: "payments",
            workerId: "w-1",
            max: 2,
            now: T0,
          });
          expect(claimed.map((t) => [t.taskKey, t.leaseExpiresAt])).toEqual([
            ["r-1:1", T0 + 400],
            ["r-1:2", T0 + 1_000],
          ]);
        });

        it("extends a lease by heartbeats only up to the timeout, counted from the claim", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000, timeoutMs: 2_500 }));
          const { deliveryId } = await claimOne("w-1", T0);
          expect(await store.heartbeatTask(deliveryId!, T0 + 900)).toEqual({
            outcome: "ok",
            leaseExpiresAt: T0 + 1_900,
          });
          expect(await store.heartbeatTask(deliveryId!, T0 + 1_800)).toEqual({
            outcome: "ok",
            leaseExpiresAt: T0 + 2_500,
          });
          expect(await store.heartbeatTask(deliveryId!, T0 + 2_500)).toEqual({ outcome: "lost" });
          expect(
            await store.settleTask({
              deliveryId: deliveryId!,
              now: T0 + 2_500,
              outcome: "completed",
            }),
          ).toMatchObject({ outcome: "lost" });
          // With deliveries left, the timed-out task is delivered again, with a timeout of its own.
          expect(await claimOne("w-2", T0 + 2_500)).toMatchObject({
            attempt: 2,
            claimedAt: T0 + 2_500,
            leaseExpiresAt: T0 + 3_500,
          });
        });
      });

      describe("withdrawing", () => {
        it("never delivers a withdrawing task again, but lets its worker reply while the lease lives", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000 }));
          const { deliveryId } = await claimOne("w-1", T0);
          await commitOne(
            await appendOp("r-1", {
              withdrawTasks: ["r-1:1"],
              update: update({ status: "compensating", updatedAt: T0 + 10 }),
            }),
          );
          expect(await store.heartbeatTask(deliveryId!, T0 + 900)).toEqual({
            outcome: "ok",
            leaseExpiresAt: T0 + 1_900,
          });
          expect(
            await store.claimTasks({
              service: "payments",
              workerId: "w-2",
              max: 1,
              now: T0 + 5_000,
            }),
          ).toEqual([]);
          expect(await store.nextVisibleAt("payments")).toBeUndefined();
          expect(
            await store.settleTask({
              deliveryId: deliveryId!,
              now: T0 + 1_500,
              outcome: "completed",
              output: "1",
            }),
          ).toMatchObject({ outcome: "settled", task: { status: "completed", output: "1" } });
          expect(await getRun("r-1")).toMatchObject({ wakeAt: T0 + 1_500 });
          expect(await store.expireTasks(T0 + 10_000, 10)).toEqual([]);
        });

        it("expires a withdrawing task whose lease ran out, as LEASE_EXPIRED; a later reply is lost", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000 }));
          const { deliveryId } = await claimOne("w-1", T0);
          await commitOne(
            await appendOp("r-1", {
              withdrawTasks: ["r-1:1"],
              update: update({ status: "compensating", updatedAt: T0 + 10 }),
            }),
          );
          expect(await store.nextTaskExpiry()).toBe(T0 + 1_000);
          expect(await store.expireTasks(T0 + 999, 10)).toEqual([]);
          const [expired, ...rest] = await store.expireTasks(T0 + 1_000, 10);
          expect(rest).toEqual([]);
          const message =
            "task r-1:1 (payments.charge): withdrawn while delivery 1 was with a worker, which sent no reply within its lease; whether it took effect is unknown";
          expect(expired).toMatchObject({
            taskKey: "r-1:1",
            status: "expired",
            error: { code: "LEASE_EXPIRED", message },
            retryable: false,
            updatedAt: T0 + 1_000,
          });
          expect(await getTask("r-1:1")).toEqual(expired);
          expect(await getRun("r-1")).toMatchObject({ wakeAt: T0 + 1_000 });
          expect(
            await store.settleTask({
              deliveryId: deliveryId!,
              now: T0 + 1_001,
              outcome: "completed",
            }),
          ).toMatchObject({ outcome: "lost", task: { status: "expired" } });
          expect(await store.heartbeatTask(deliveryId!, T0 + 1_001)).toEqual({ outcome: "lost" });
          expect(await store.nextTaskExpiry()).toBeUndefined();
          expect(await store.taskCounts()).toEqual([]);
        });
      });

      describe("expireTasks", () => {
        it("expires a last delivery whose lease ran out, as LEASE_EXPIRED and not retryable", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000, maxAttempts: 1 }));
          const { deliveryId } = await claimOne("w-1", T0);
          expect(await store.nextTaskExpiry()).toBe(T0 + 1_000);
          expect(await store.expireTasks(T0 + 999, 10)).toEqual([]);
          expect(await store.expireTasks(T0 + 1_000, 10)).toEqual([
            expect.objectContaining({
              taskKey: "r-1:1",
              status: "expired",
              attempt: 1,
              error: {
                code: "LEASE_EXPIRED",
                message:
                  "task r-1:1 (payments.charge): delivery 1 of 1 had no reply within its lease; whether it took effect is unknown",
              },
              retryable: false,
            }),
          ]);
          expect(await getRun("r-1")).toMatchObject({ wakeAt: T0 + 1_000 });
          expect(
            await store.settleTask({ deliveryId: deliveryId!, now: T0 + 1_001, outcome: "failed" }),
          ).toMatchObject({ outcome: "lost" });
          expect(await store.expireTasks(T0 + 5_000, 10)).toEqual([]);
        });

        it("expires a last delivery that reached its timeout as STEP_TIMEOUT", async () => {
          await enqueue(
            "r-1",
            newTask("r-1:1", { leaseMs: 1_000, timeoutMs: 500, maxAttempts: 1 }),
          );
          await claimOne("w-1", T0);
          expect(await store.nextTaskExpiry()).toBe(T0 + 500);
          expect(await store.expireTasks(T0 + 500, 10)).toEqual([
            expect.objectContaining({
              status: "expired",
              error: {
                code: "STEP_TIMEOUT",
                message:
                  "task r-1:1 (payments.charge): delivery 1 had no reply within its timeout of 500 ms; whether it took effect is unknown",
              },
              retryable: false,
            }),
          ]);
        });

        it("leaves an expired lease with deliveries left to the next claim", async () => {
          await enqueue("r-1", newTask("r-1:1", { leaseMs: 1_000, maxAttempts: 2 }));
          await claimOne("w-1", T0);
          expect(await store.nextTaskExpiry()).toBeUndefined();
          expect(await store.expireTasks(T0 + 5_000, 10)).toEqual([]);
          expect(await getTask("r-1:1")).toMatchObject({ status: "leased", attempt: 1 });
        });

        it("fails a queued task whose queue deadline passed with QUEUE_TIMEOUT, retryable", async () => {
          await enqueue(
            "r-1",
            newTask("r-1:1", { queueTimeoutMs: 1_000, visibleAt: T0 + 100 }),
            newTask("r-1:2", { seq: 2 }),
          );
          expect(await store.nextTaskExpiry()).toBe(T0 + 1_100);
          expect(await store.expireTasks(T0 + 1_099, 10)).toEqual([]);
          expect(await store.expireTasks(T0 + 1_100, 10)).toEqual([
            expect.objectContaining({
              taskKey: "r-1:1",
              status: "failed",
              attempt: 0,
              error: {
                code: "QUEUE_TIMEOUT",
                message: "task r-1:1 (payments.charge): no worker claimed it within 1000 ms",
              },
              retryable: true,
            }),
          ]);
          expect(await getRun("r-1")).toMatchObject({ wakeAt: T0 + 1_100 });
          expect(await getTask("r-1:2")).toMatchObject({ status: "queued" });
          expect(
            await store.claimTasks({ service: "payments", workerId: "w", max: 5, now: T0 + 2_000 }),
          ).toMatchObject([{ taskKey: "r-1:2" }]);
        });

        it("counts the queue deadline again from a requeue, and not at all once claimed", async () => {
          await enqueue("r-1", newTask("r-1:1", { queueTimeoutMs: 1_000 }));
          await store.expireTasks(T0 + 1_000, 10);
          await commitOne(
            await appendOp("r-1", { requeueTasks: [{ taskKey: "r-1:1", visibleAt: T0 + 5_000 }] }),
          );
          expect(await getTask("r-1:1")).toMatchObject({ status: "queued", error: null });
          expect(await store.nextTaskExpiry()).toBe(T0 + 6_000);
          expect(await store.expireTasks(T0 + 5_999, 10)).toEqual([]);
          await claimOne("w-1", T0 + 5_500);
          expect(await store.nextTaskExpiry()).toBeUndefined();
          expect(await store.expireTasks(T0 + 20_000, 10)).toEqual([]);
        });

        it("takes at most limit tasks, earliest first, and wakes each one's run", async () => {
          await createRuns(["r-2"]);
          await enqueue("r-1", newTask("r-1:1", { queueTimeoutMs: 300 }));
          await enqueue(
            "r-2",
            newTask("r-2:1", { runId: "r-2", queueTimeoutMs: 200 }),
            newTask("r-2:2", {
              runId: "r-2",
              seq: 2,
              service: "shipping",
              leaseMs: 250,
              maxAttempts: 1,
            }),
          );
          await claimOne("w-1", T0, "shipping");
          expect(await store.nextTaskExpiry()).toBe(T0 + 200);
          const first = await store.expireTasks(T0 + 1_000, 2);
          expect(first.map((t) => [t.taskKey, t.status])).toEqual([
            ["r-2:1", "failed"],
            ["r-2:2", "expired"],
          ]);
          expect(await getRun("r-2")).toMatchObject({ wakeAt: T0 + 1_000 });
          expect((await getRun("r-1")).wakeAt).toBeNull();
          expect(await store.nextTaskExpiry()).toBe(T0 + 300);
          expect((await store.expireTasks(T0 + 1_000, 2)).map((t) => t.taskKey)).toEqual(["r-1:1"]);
          expect(await store.expireTasks(T0 + 1_000, 2)).toEqual([]);
        });

        it("leaves a terminal run's wakeAt alone", async () => {
          await enqueue("r-1", newTask("r-1:1", { queueTimeoutMs: 100 }));
          await setState("r-1", { status: "failed", wakeAt: null });
          expect(await store.expireTasks(T0 + 100, 10)).toHaveLength(1);
          expect((await getRun("r-1")).wakeAt).toBeNull();
        });
      });
    });

    describe("ownership across nodes", () => {
      const LEASE = 10_000;

      it("gives a new run to the node that created it, and lets that node acquire it without fencing itself", async () => {
        await createRuns(["r-1", { owner: "node-a" }]);
        expect((await getRun("r-1")).owner).toBe("node-a");
        await store.renewNode("node-a", T0, LEASE);
        const acquired = await store.acquireRun("r-1", "node-a", T0 + 1);
        expect(acquired).toMatchObject({ runId: "r-1", owner: "node-a", epoch: 0 });
      });

      it("refuses a run that a live node owns, and hands it over with a new epoch once that node's lease expired", async () => {
        await createRuns(["r-1", { owner: "node-a" }]);
        await store.renewNode("node-a", Date.now(), 1_500);
        expect(await store.acquireRun("r-1", "node-b", Date.now())).toBeUndefined();
        const taken = await until("node-a's lease to lapse", () =>
          store.acquireRun("r-1", "node-b", Date.now()),
        );
        expect(taken).toMatchObject({ owner: "node-b", epoch: 1 });
        // The old owner's write, made under its epoch, is fenced off and leaves nothing behind.
        const stale = await commitOne({
          ...(await appendOp("r-1")),
          epoch: 0,
          entries: [entry(1)],
        });
        expect(stale).toMatchObject({ ok: false, error: { code: "LEASE_LOST" } });
        expect(await store.readJournal("r-1")).toHaveLength(1);
      });

      it("tells when a node's lease runs out, renewal by renewal", async () => {
        expect(await store.nodeLeaseExpiresAt("node-a")).toBeUndefined();
        // From `now` on SQLite, from the database's clock on PostgreSQL: the same host here.
        const renewedAt = async (): Promise<[number, number]> => {
          const before = Date.now();
          expect(await store.renewNode("node-a", before, LEASE)).toEqual({ outcome: "renewed" });
          return [before, Date.now()];
        };
        const [before, after] = await renewedAt();
        const first = (await store.nodeLeaseExpiresAt("node-a"))!;
        expect(first).toBeGreaterThanOrEqual(before + LEASE - 250);
        expect(first).toBeLessThanOrEqual(after + LEASE + 250);
        await until("the clock to move", () => Promise.resolve(Date.now() > after + 5));
        await renewedAt();
        expect(await store.nodeLeaseExpiresAt("node-a")).toBeGreaterThan(first);
      });

      it("refuses a second instance of a node id while the first one's lease lives, and lets it take over once it lapsed", async () => {
        expect(await store.renewNode("node-a", Date.now(), 1_500, "first")).toEqual({
          outcome: "renewed",
        });
        expect(await store.renewNode("node-a", Date.now(), 1_500, "first")).toEqual({
          outcome: "renewed",
        });
        expect(await store.renewNode("node-a", Date.now(), 60_000, "second")).toEqual({
          outcome: "in_use",
          instance: "first",
        });
        // The refusal wrote nothing: the first instance's lease lapses on its own.
        await until("the first instance's lease to lapse", async () => {
          const renewal = await store.renewNode("node-a", Date.now(), 60_000, "second");
          return renewal.outcome === "renewed";
        });
        expect(await store.renewNode("node-a", Date.now(), 60_000, "first")).toEqual({
          outcome: "in_use",
          instance: "second",
        });
        // A caller that names no instance renews whatever holds the node id.
        expect(await store.renewNode("node-a", Date.now(), 60_000)).toEqual({
          outcome: "renewed",
        });
        expect(await store.renewNode("node-a", Date.now(), 60_000, "first")).toMatchObject({
          outcome: "in_use",
        });
      });

      it("releases the deliveries a node id's previous instance handed out, and fences off its runs, when a new one takes it over", async () => {
        await createRuns(["r-1", { owner: "node-a" }], ["done", { owner: "node-a" }]);
        await setState("done", { status: "completed" });
        await commitOne(
          await appendOp("r-1", {
            enqueueTasks: [
              newTask("r-1:1", { leaseMs: 60_000 }),
              newTask("r-1:2", { seq: 2, leaseMs: 60_000, maxAttempts: 1 }),
            ],
          }),
        );
        await store.renewNode("node-a", Date.now(), 1_500, "first");
        const claim = (nodeId: string): Promise<TaskRecord[]> =>
          store.claimTasks({
            service: "payments",
            workerId: "w",
            max: 10,
            now: Date.now(),
            nodeId,
          });
        expect(await claim("node-a")).toHaveLength(2);
        // The new instance takes over as soon as it may; no claim ran in between.
        await until("the first instance's lease to lapse", async () => {
          const renewal = await store.renewNode("node-a", Date.now(), 60_000, "second");
          return renewal.outcome === "renewed";
        });
        // node-a lives again, yet the first instance's delivery with deliveries left goes out again.
        const again = await claim("node-a");
        expect(again.map((t) => [t.taskKey, t.attempt])).toEqual([["r-1:1", 2]]);
        expect(await store.findTask("r-1:2")).toMatchObject({ status: "leased", attempt: 1 });
        // The predecessor's writes, made under the epoch it held, no longer land.
        expect((await getRun("r-1")).epoch).toBe(1);
        expect((await getRun("done")).epoch).toBe(0);
        const stale = await commitOne({
          ...(await appendOp("r-1")),
          epoch: 0,
          entries: [entry(1)],
        });
        expect(stale).toMatchObject({ ok: false, error: { code: "LEASE_LOST" } });
        // The new instance acquires its own runs at the new epoch; its renewals change nothing.
        expect(await store.acquireRun("r-1", "node-a", Date.now())).toMatchObject({ epoch: 1 });
        await store.renewNode("node-a", Date.now(), 60_000, "second");
        expect(await claim("node-a")).toEqual([]);
        expect((await getRun("r-1")).epoch).toBe(1);
      });

      it("treats a run owned by a node that never announced itself as orphaned", async () => {
        await createRuns(["r-1", { owner: "ghost" }]);
        expect(await store.acquireRun("r-1", "node-b", T0)).toMatchObject({
          owner: "node-b",
          epoch: 1,
        });
      });

      it("releases a run only for its owner at the same epoch, and lets any node acquire it then", async () => {
        await createRuns(["r-1", { owner: "node-a" }]);
        await store.renewNode("node-a", T0, LEASE);
        await store.releaseRun("r-1", "node-b", 0);
        expect((await getRun("r-1")).owner).toBe("node-a");
        await store.releaseRun("r-1", "node-a", 5);
        expect((await getRun("r-1")).owner).toBe("node-a");
        await store.releaseRun("r-1", "node-a", 0);
        expect((await getRun("r-1")).owner).toBeNull();
        expect(await store.acquireRun("r-1", "node-b", T0 + 1)).toMatchObject({
          owner: "node-b",
          epoch: 1,
        });
      });

      it("never acquires a terminal or unknown run", async () => {
        await createRuns(["done"]);
        await setState("done", { status: "completed" });
        expect(await store.acquireRun("done", "node-a", T0)).toBeUndefined();
        expect(await store.acquireRun("missing", "node-a", T0)).toBeUndefined();
      });

      it("finds runs with work that no live node holds", async () => {
        const start = Date.now();
        await store.renewNode("live", start, 60_000);
        await store.renewNode("dead", start, 1);
        await createRuns(
          ["unowned"],
          ["live-owned", { owner: "live" }],
          ["dead-owned", { owner: "dead" }],
          ["mine", { owner: "me" }],
          ["dead-waiting-later", { owner: "dead" }],
          ["dead-waiting-due", { owner: "dead" }],
          ["dead-done", { owner: "dead" }],
        );
        await setState("dead-waiting-later", { status: "waiting", wakeAt: start + 60_000 });
        await setState("dead-waiting-due", { status: "waiting", wakeAt: start });
        await setState("dead-done", { status: "completed" });
        const found = async (includeOwn: boolean): Promise<string[]> =>
          (
            await store.findOrphanedRuns({ now: Date.now(), nodeId: "me", includeOwn, limit: 100 })
          ).sort();
        await until("the dead node's lease to lapse", async () =>
          (await found(false)).includes("dead-owned"),
        );
        expect(await found(false)).toEqual(["dead-owned", "dead-waiting-due", "unowned"]);
        expect(await found(true)).toEqual(["dead-owned", "dead-waiting-due", "mine", "unowned"]);
        expect(
          await store.findOrphanedRuns({
            now: Date.now(),
            nodeId: "me",
            includeOwn: true,
            limit: 2,
          }),
        ).toHaveLength(2);
      });

      it("creates child runs owned by the node that wrote them", async () => {
        await createRuns(["parent", { owner: "node-a" }]);
        expect(
          await commitOne(
            await appendOp("parent", {
              createRuns: [
                newRun("parent:1", { parentRunId: "parent", parentSeq: 1, owner: "node-a" }),
              ],
            }),
          ),
        ).toEqual({ ok: true });
        expect((await getRun("parent:1")).owner).toBe("node-a");
      });
    });

    describe("service activity", () => {
      const calls = (
        service: string,
        fields: Partial<{
          completed: number;
          failures: number;
          inFlight: number;
          latencies: number[];
        }> = {},
      ) => ({ service, completed: 0, failures: 0, inFlight: 0, latencies: [], ...fields });

      it("keeps the latest sighting of each worker and lists those seen since a time", async () => {
        await store.saveServiceActivity({
          nodeId: "node-a",
          now: T0 + 100,
          workers: [
            { service: "payments", workerId: "w-1", nodeId: "node-a", lastSeenAt: T0 + 100 },
            { service: "payments", workerId: "w-2", nodeId: "node-a", lastSeenAt: T0 },
            { service: "shipping", workerId: "w-1", nodeId: "node-a", lastSeenAt: T0 + 50 },
          ],
          calls: [],
          pruneBefore: T0 - 60_000,
        });
        // node-b saw w-1 later, and w-2 earlier than node-a did: the later sighting wins.
        await store.saveServiceActivity({
          nodeId: "node-b",
          now: T0 + 200,
          workers: [
            { service: "payments", workerId: "w-1", nodeId: "node-b", lastSeenAt: T0 + 200 },
            { service: "payments", workerId: "w-2", nodeId: "node-b", lastSeenAt: T0 - 10 },
          ],
          calls: [],
          pruneBefore: T0 - 60_000,
        });
        const seen = async (since: number) =>
          (await store.readServiceActivity(since)).workers.sort(
            (a, b) => a.service.localeCompare(b.service) || a.workerId.localeCompare(b.workerId),
          );
        expect(await seen(T0)).toEqual([
          { service: "payments", workerId: "w-1", nodeId: "node-b", lastSeenAt: T0 + 200 },
          { service: "payments", workerId: "w-2", nodeId: "node-b", lastSeenAt: T0 },
          { service: "shipping", workerId: "w-1", nodeId: "node-a", lastSeenAt: T0 + 50 },
        ]);
        expect((await seen(T0 + 60)).map((w) => w.workerId)).toEqual(["w-1"]);
        // Workers unseen since pruneBefore are dropped.
        await store.saveServiceActivity({
          nodeId: "node-a",
          now: T0 + 300,
          workers: [],
          calls: [],
          pruneBefore: T0 + 100,
        });
        expect((await seen(0)).map((w) => `${w.service}/${w.workerId}`)).toEqual(["payments/w-1"]);
      });

      it("adds each node's call counts up and keeps its latest latencies and in-flight count", async () => {
        await store.saveServiceActivity({
          nodeId: "node-a",
          now: T0,
          workers: [],
          calls: [calls("payments", { completed: 3, failures: 1, inFlight: 2, latencies: [5, 7] })],
          pruneBefore: 0,
        });
        await store.saveServiceActivity({
          nodeId: "node-a",
          now: T0 + 1_000,
          workers: [],
          calls: [
            calls("payments", { completed: 2, inFlight: 0, latencies: [9] }),
            calls("shipping", { failures: 4 }),
          ],
          pruneBefore: 0,
        });
        await store.saveServiceActivity({
          nodeId: "node-b",
          now: T0 + 500,
          workers: [],
          calls: [calls("payments", { completed: 1, inFlight: 1, latencies: [1] })],
          pruneBefore: 0,
        });
        const { calls: rows } = await store.readServiceActivity(0);
        expect(
          rows.sort(
            (a, b) => a.service.localeCompare(b.service) || a.nodeId.localeCompare(b.nodeId),
          ),
        ).toEqual([
          {
            service: "payments",
            nodeId: "node-a",
            completed: 5,
            failures: 1,
            inFlight: 0,
            latencies: [9],
            updatedAt: T0 + 1_000,
          },
          {
            service: "payments",
            nodeId: "node-b",
            completed: 1,
            failures: 0,
            inFlight: 1,
            latencies: [1],
            updatedAt: T0 + 500,
          },
          {
            service: "shipping",
            nodeId: "node-a",
            completed: 0,
            failures: 4,
            inFlight: 0,
            latencies: [],
            updatedAt: T0 + 1_000,
          },
        ]);
      });
    });

    describe("generations (continueAsNew)", () => {
      const nextGeneration = (input: string): NonNullable<AppendRun["continueAsNew"]> => ({
        input,
        firstEntry: {
          position: 0, // the store places it after the entries of the write
          seq: null,
          type: "run.started",
          name: null,
          data: '{"generation":2,"firstSeq":3}',
          at: T0 + 50,
        },
      });

      it("starts the next generation in the write that ends the last: new input, fresh journal", async () => {
        await createRuns(["r-1"]);
        await commitOne(await appendOp("r-1", { entries: [entry(1)] }));
        expect(await getRun("r-1")).toMatchObject({ generation: 1, journalLength: 2 });
        const result = await commitOne(
          await appendOp("r-1", {
            entries: [entry(2)],
            events: [event("r-1", "run.continued", T0 + 50)],
            continueAsNew: nextGeneration('{"n":2}'),
          }),
        );
        expect(result).toEqual({ ok: true });
        expect(await getRun("r-1")).toMatchObject({
          generation: 2,
          input: '{"n":2}',
          status: "running",
          journalLength: 4,
        });
        // Positions go on counting: the new generation's first entry follows the last one's end.
        expect(await store.readJournal("r-1")).toEqual([
          { ...nextGeneration("").firstEntry, position: 3 },
        ]);
        expect((await store.readEvents(0, 10)).map((e) => e.type)).toContain("run.continued");
      });

      it("keeps unconsumed signals for the next generation and applies consumptions first", async () => {
        await createRuns(["r-1"]);
        const first = await commitOne(signal("r-1", "a", T0 + 1));
        const second = await commitOne(signal("r-1", "b", T0 + 2));
        await commitOne(
          await appendOp("r-1", {
            consumedSignals: [{ signalId: (first as { signalId: number }).signalId, seq: 1 }],
            continueAsNew: nextGeneration("null"),
          }),
        );
        expect((await store.pendingSignals("r-1")).map((s) => s.signalId)).toEqual([
          (second as { signalId: number }).signalId,
        ]);
      });

      it("a fenced continue changes nothing: neither generation, input nor journal", async () => {
        await createRuns(["r-1"]);
        const before = await getRun("r-1");
        const stale = await appendOp("r-1", { continueAsNew: nextGeneration('{"x":1}') });
        await commitOne(await appendOp("r-1", { entries: [entry(1)] }));
        const result = await commitOne(stale);
        expect(result).toMatchObject({ ok: false, error: { code: "LEASE_LOST" } });
        expect(await getRun("r-1")).toMatchObject({ generation: 1, input: before.input });
        expect(await store.readJournal("r-1")).toHaveLength(2);
      });
    });

    describe("signal limit (maxPending)", () => {
      const limited = (runId: string, name: string, maxPending: number): WriteOp => ({
        ...(signal(runId, name, T0 + 10) as Extract<WriteOp, { type: "insertSignal" }>),
        maxPending,
      });

      it("refuses a signal past the run's unconsumed ones with TOO_MANY_SIGNALS and writes nothing", async () => {
        await createRuns(["r-1"]);
        expect(await commitOne(limited("r-1", "a", 2))).toMatchObject({ ok: true });
        expect(await commitOne(limited("r-1", "b", 2))).toMatchObject({ ok: true });
        expect(await commitOne(limited("r-1", "c", 2))).toMatchObject({
          ok: false,
          error: { code: "TOO_MANY_SIGNALS" },
        });
        expect((await store.pendingSignals("r-1")).map((s) => s.name)).toEqual(["a", "b"]);
      });

      it("counts neither consumed signals nor Baton's own", async () => {
        await createRuns(["r-1"]);
        const a = (await commitOne(limited("r-1", "a", 1))) as { signalId: number };
        await commitOne(signal("r-1", "baton:cancel", T0 + 11));
        await commitOne(
          await appendOp("r-1", { consumedSignals: [{ signalId: a.signalId, seq: 1 }] }),
        );
        expect(await commitOne(limited("r-1", "b", 1))).toMatchObject({ ok: true });
      });

      it("lets no two signals in one batch overshoot the limit", async () => {
        await createRuns(["r-1"]);
        const results = await store.commit([
          limited("r-1", "a", 1),
          limited("r-1", "b", 1),
          limited("r-1", "c", 1),
        ]);
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(await store.pendingSignals("r-1")).toHaveLength(1);
      });

      it("lets no concurrent batches overshoot the limit", async () => {
        await createRuns(["r-1"]);
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => store.commit([limited("r-1", `s${i}`, 3)])),
        );
        expect(results.flat().filter((r) => r.ok)).toHaveLength(3);
        expect(await store.pendingSignals("r-1")).toHaveLength(3);
      });
    });
    scheduleConformance(() => store);
    webhookConformance(() => store);

    describe("close", () => {
      it("closes the store", async () => {
        await createRuns(["r-1"]);
        await expect(store.close()).resolves.toBeUndefined();
      });
    });
  });
}
