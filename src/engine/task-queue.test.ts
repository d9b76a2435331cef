import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock, silentLogger, type Logger } from "../common/index.js";
import type { Store, TaskRecord } from "../store/index.js";
import { ServiceStats } from "./service-stats.js";
import { TaskQueue } from "./task-queue.js";
import { waitFor } from "../../test/support/wait-for.js";

const T0 = Date.UTC(2026, 0, 1);

function expiredTask(taskKey: string): TaskRecord {
  return { taskKey, runId: taskKey.split(":")[0]!, status: "expired" } as TaskRecord;
}

/** Just what the sweeper reads: expiries due at the given times, ended when asked. */
function expiringStore(dueAt: Map<string, number>): Pick<Store, "nextTaskExpiry" | "expireTasks"> {
  return {
    nextTaskExpiry: vi.fn(() =>
      Promise.resolve(dueAt.size ? Math.min(...dueAt.values()) : undefined),
    ),
    expireTasks: vi.fn((now: number, limit: number) => {
      const due = [...dueAt].filter(([, at]) => at <= now).slice(0, limit);
      for (const [key] of due) dueAt.delete(key);
      return Promise.resolve(due.map(([key]) => expiredTask(key)));
    }),
  };
}

describe("TaskQueue expiry sweeper", () => {
  const queues: TaskQueue[] = [];
  afterEach(async () => {
    for (const queue of queues.splice(0)) await queue.close();
  });

  function open(
    store: Pick<Store, "nextTaskExpiry" | "expireTasks">,
    clock: ManualClock,
    onReply: (task: TaskRecord) => void,
    logger: Logger = silentLogger,
  ): TaskQueue {
    const queue = new TaskQueue(
      store as Store,
      clock,
      new ServiceStats(),
      () => true,
      onReply,
      Infinity,
      { logger, safetySweepMs: Infinity },
    );
    queues.push(queue);
    return queue;
  }

  it("ends tasks when their expiry comes, hands each to the run, and arms for the next one", async () => {
    const clock = new ManualClock(T0);
    const store = expiringStore(
      new Map([
        ["r-1:1", T0 + 100],
        ["r-2:1", T0 + 300],
      ]),
    );
    const handed: string[] = [];
    const queue = open(store, clock, (task) => handed.push(task.taskKey));
    expect(store.nextTaskExpiry).not.toHaveBeenCalled();
    // Once the engine recovered its runs, it asks for a look: the timer is armed for the first.
    queue.noteExpiry();
    await waitFor(() => clock.pendingTimers() === 1);
    clock.advance(99);
    expect(store.expireTasks).not.toHaveBeenCalled();
    clock.advance(1);
    await waitFor(() => handed.length === 1);
    expect(handed).toEqual(["r-1:1"]);
    await waitFor(() => clock.pendingTimers() === 1);
    clock.advance(200);
    await waitFor(() => handed.length === 2);
    expect(handed).toEqual(["r-1:1", "r-2:1"]);
  });

  it("looks again when told of an expiry, and keeps the earlier timer when told of a later one", async () => {
    const clock = new ManualClock(T0);
    const due = new Map<string, number>();
    const store = expiringStore(due);
    const handed: string[] = [];
    const queue = open(store, clock, (task) => handed.push(task.taskKey));
    due.set("r-1:1", T0 + 50);
    queue.noteExpiry(T0 + 50);
    queue.noteExpiry(T0 + 500);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(50);
    await waitFor(() => handed.length === 1);
    due.set("r-2:1", T0 + 80);
    queue.noteExpiry(); // no time given: the store says when
    await waitFor(() => clock.pendingTimers() === 1);
    clock.advance(30);
    await waitFor(() => handed.length === 2);
  });

  it("logs a store error, never throws it, and tries again", async () => {
    const clock = new ManualClock(T0);
    const warn = vi.fn();
    const logger = { ...silentLogger, warn };
    let failing = true;
    const due = new Map([["r-1:1", T0]]);
    const healthy = expiringStore(due);
    const store: Pick<Store, "nextTaskExpiry" | "expireTasks"> = {
      nextTaskExpiry: () =>
        failing ? Promise.reject(new Error("database unreachable")) : healthy.nextTaskExpiry(),
      expireTasks: healthy.expireTasks,
    };
    const handed: string[] = [];
    open(store, clock, (task) => handed.push(task.taskKey), logger).noteExpiry();
    await waitFor(() => warn.mock.calls.length === 1);
    expect(warn.mock.calls[0]![1]).toContain("task expiry sweep failed");
    failing = false;
    await waitFor(() => clock.pendingTimers() === 1);
    clock.advance(1_000);
    await waitFor(() => handed.length === 1);
  });

  it("runs a safety sweep on its own, for expiries no hint announced", async () => {
    const clock = new ManualClock(T0);
    const store = expiringStore(new Map([["r-1:1", T0]]));
    const handed: string[] = [];
    const queue = new TaskQueue(
      store as Store,
      clock,
      new ServiceStats(),
      () => true,
      (task) => handed.push(task.taskKey),
      Infinity,
      { safetySweepMs: 20 },
    );
    queues.push(queue);
    await waitFor(() => handed.length === 1);
  });

  it("stops on close: no timer left, the store no longer asked", async () => {
    const clock = new ManualClock(T0);
    const store = expiringStore(new Map([["r-1:1", T0 + 100]]));
    const queue = open(store, clock, () => undefined);
    queue.noteExpiry();
    await waitFor(() => clock.pendingTimers() === 1);
    await queue.close();
    expect(clock.pendingTimers()).toBe(0);
    queue.noteExpiry(T0 + 10);
    queue.noteExpiry();
    clock.advance(1_000);
    expect(store.expireTasks).not.toHaveBeenCalled();
    expect(store.nextTaskExpiry).toHaveBeenCalledTimes(1);
  });
});
