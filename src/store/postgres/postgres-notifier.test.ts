import pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { describePostgres, freshDatabase } from "../../../test/support/postgres.js";
import { waitFor } from "../../../test/support/wait-for.js";
import type { StoreNotification, WriteOp } from "../index.js";
import { Channel, PostgresNotifier } from "./postgres-notifier.js";
import { PostgresStore } from "./postgres-store.js";
import { T0, newRun } from "../test-records.js";

function append(runId: string, fields: Partial<Extract<WriteOp, { type: "appendRun" }>>): WriteOp {
  return {
    type: "appendRun",
    runId,
    epoch: 0,
    expectedLength: 1,
    entries: [],
    update: { status: "waiting", updatedAt: T0 + 5, wakeAt: null, waitingOn: null },
    ...fields,
  };
}

describePostgres("PostgreSQL notifications", () => {
  let writer: PostgresStore;
  let listener: PostgresStore;
  let url: string;
  const heard: StoreNotification[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    const db = await freshDatabase();
    url = db.url;
    cleanups.push(db.drop);
    // Two stores, as two nodes: what one commits, the other hears on its own connection.
    writer = new PostgresStore({ connectionString: url });
    listener = new PostgresStore({ connectionString: url });
    cleanups.push(
      () => writer.close(),
      () => listener.close(),
    );
    heard.length = 0;
    await listener.subscribe!((n) => heard.push(n));
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function hears(notification: StoreNotification): Promise<unknown> {
    return waitFor(() => heard.some((n) => JSON.stringify(n) === JSON.stringify(notification)), {
      what: `notification ${JSON.stringify(notification)}`,
    });
  }

  it("tells other nodes of tasks to hand out, once the batch that queued them committed", async () => {
    await writer.commit([{ type: "createRun", run: newRun("r-1") }]);
    const task = {
      taskKey: "r-1:1",
      service: "payments",
      command: "charge",
      input: null,
      runId: "r-1",
      workflow: "order",
      seq: 1,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      leaseMs: 1_000,
      maxAttempts: 3,
      timeoutMs: null,
      queueTimeoutMs: null,
      visibleAt: T0,
      createdAt: T0,
    };
    // A batch that fails as a whole tells no one.
    const doomed = append("r-1", {
      entries: [0, 0].map((seq) => ({
        position: 1,
        seq,
        type: "x",
        name: null,
        data: null,
        at: T0,
      })),
      enqueueTasks: [{ ...task, taskKey: "r-1:0", service: "ghosts" }],
    });
    await expect(writer.commit([doomed])).rejects.toMatchObject({ code: "STORE_FAILED" });
    await writer.commit([append("r-1", { enqueueTasks: [task] })]);
    await hears({ channel: "tasks", service: "payments" });

    const [claimed] = await writer.claimTasks({
      service: "payments",
      workerId: "w",
      max: 1,
      now: T0,
    });
    await writer.settleTask({
      deliveryId: claimed!.deliveryId!,
      now: T0 + 1,
      outcome: "failed",
      retryable: true,
    });
    await hears({ channel: "runs", runId: "r-1", ended: false });
    heard.length = 0;
    await writer.commit([
      append("r-1", { expectedLength: 1, requeueTasks: [{ taskKey: "r-1:1", visibleAt: T0 + 9 }] }),
    ]);
    await hears({ channel: "tasks", service: "payments" });
    expect(heard).not.toContainEqual({ channel: "tasks", service: "ghosts" });
  });

  it("tells other nodes of runs whose tasks expired, as of a worker's reply", async () => {
    await writer.commit([
      { type: "createRun", run: newRun("r-1") },
      { type: "createRun", run: newRun("r-2") },
    ]);
    const task = {
      taskKey: "r-1:1",
      service: "payments",
      command: "charge",
      input: null,
      runId: "r-1",
      workflow: "order",
      seq: 1,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      leaseMs: 1_000,
      maxAttempts: 1,
      timeoutMs: null,
      queueTimeoutMs: null,
      visibleAt: T0,
      createdAt: T0,
    };
    await writer.commit([
      append("r-1", { enqueueTasks: [task] }),
      append("r-2", {
        enqueueTasks: [
          { ...task, taskKey: "r-2:1", runId: "r-2", service: "shipping", queueTimeoutMs: 500 },
        ],
      }),
    ]);
    await writer.claimTasks({ service: "payments", workerId: "w", max: 1, now: T0 });
    heard.length = 0;
    expect(await writer.expireTasks(T0 + 1_000, 10)).toHaveLength(2);
    await hears({ channel: "runs", runId: "r-1", ended: false });
    await hears({ channel: "runs", runId: "r-2", ended: false });
  });

  it("tells other nodes of runs with news: a signal, a child's end, a run's end", async () => {
    await writer.commit([
      { type: "createRun", run: newRun("parent") },
      { type: "createRun", run: newRun("child", { parentRunId: "parent", parentSeq: 1 }) },
    ]);
    await writer.commit([
      { type: "insertSignal", runId: "parent", name: "go", payload: null, sentAt: T0 + 1 },
    ]);
    await hears({ channel: "runs", runId: "parent", ended: false });
    heard.length = 0;
    await writer.commit([
      append("child", {
        update: {
          status: "completed",
          updatedAt: T0 + 2,
          wakeAt: null,
          waitingOn: null,
          output: "1",
        },
        wakeRuns: ["parent"],
      }),
    ]);
    await hears({ channel: "runs", runId: "parent", ended: false });
    await hears({ channel: "runs", runId: "child", ended: true });
  });

  it("listens again after its connection dropped, and says that news may have been missed", async () => {
    const notifier = new PostgresNotifier({ connectionString: url, reconnectDelayMs: 10 });
    cleanups.push(() => notifier.close());
    const payloads: Array<string | null> = [];
    await notifier.listen(Channel.Tasks, (payload) => payloads.push(payload));

    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    cleanups.push(() => admin.end());
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'baton-notifier' AND datname = current_database()",
    );
    await waitFor(() => payloads.includes(null), { what: "the notifier to reconnect" });
    await admin.query("SELECT pg_notify($1, 'after')", [Channel.Tasks]);
    await waitFor(() => payloads.includes("after"), { what: "a notification after reconnecting" });
  });
});
