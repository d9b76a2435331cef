import { describe, expect, it, vi } from "vitest";
import { ManualClock, silentLogger } from "../common/index.js";
import type { ServiceActivity, ServiceCalls, Store, WorkerSighting } from "../store/index.js";
import { ServiceStats } from "./service-stats.js";
import { SharedServiceView } from "./service-view.js";

describe("ServiceStats.drain", () => {
  it("hands a polling worker to a flush at most every workerEveryMs, and each count once", () => {
    const stats = new ServiceStats();
    const t = 1_000_000;
    for (let i = 0; i < 100; i++) stats.sawWorker("billing", "w-1", t + i);
    expect(stats.drain("n1", t + 100, 5_000).workers).toEqual([
      { service: "billing", workerId: "w-1", nodeId: "n1", lastSeenAt: t + 99 },
    ]);
    stats.sawWorker("billing", "w-1", t + 3_000);
    expect(stats.drain("n1", t + 3_000, 5_000).workers).toEqual([]);
    stats.sawWorker("billing", "w-1", t + 5_200);
    expect(stats.drain("n1", t + 5_200, 5_000).workers).toHaveLength(1);

    stats.record("billing", true, 10);
    stats.record("billing", true, 30);
    stats.record("billing", false, 20);
    expect(stats.drain("n1", t, 5_000).calls).toEqual([
      { service: "billing", completed: 2, failures: 1, inFlight: 0, latencies: [10, 30, 20] },
    ]);
    // Nothing changed since: nothing to write.
    expect(stats.drain("n1", t, 5_000).calls).toEqual([]);
  });
});

describe("SharedServiceView", () => {
  it("adds every node's figures up, its own from memory, and drops a silent node's in-flight calls", async () => {
    const clock = new ManualClock();
    const now = clock.now();
    const rows: ServiceCalls[] = [
      // This node's flushed counts; its latencies and in-flight count come from memory instead.
      {
        service: "billing",
        nodeId: "n1",
        completed: 4,
        failures: 0,
        inFlight: 9,
        latencies: [999],
        updatedAt: now,
      },
      {
        service: "billing",
        nodeId: "n2",
        completed: 5,
        failures: 2,
        inFlight: 2,
        latencies: [100],
        updatedAt: now - 1_000,
      },
      {
        service: "billing",
        nodeId: "gone",
        completed: 1,
        failures: 0,
        inFlight: 7,
        latencies: [50],
        updatedAt: now - 60_000,
      },
    ];
    const workers: WorkerSighting[] = [
      { service: "billing", workerId: "w-2", nodeId: "n2", lastSeenAt: now - 1_000 },
      { service: "billing", workerId: "w-1", nodeId: "n2", lastSeenAt: now - 2_000 },
    ];
    const saved: ServiceActivity[] = [];
    const readServiceActivity = vi.fn(() => Promise.resolve({ workers, calls: rows }));
    const store = {
      readServiceActivity,
      saveServiceActivity: vi.fn((activity: ServiceActivity) => {
        saved.push(activity);
        return Promise.resolve();
      }),
    } as unknown as Store;
    const stats = new ServiceStats();
    stats.sawWorker("billing", "w-1", now);
    stats.record("billing", true, 10);
    stats.trackInFlight("billing", 1);
    const view = new SharedServiceView(store, clock, silentLogger, stats, "n1");

    const figures = (await view.read())("billing");
    expect(figures).toEqual({
      workers: 2,
      completed: 4 + 5 + 1 + 1,
      failures: 2,
      inFlight: 1 + 2,
      latencyMs: { p50: 50, p95: 100 },
    });
    expect(readServiceActivity).toHaveBeenCalledWith(now - 30_000);

    // The flush carries what memory has not saved yet, then stopping flushes nothing new.
    view.start();
    clock.advance(1_000);
    await vi.waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0]).toMatchObject({
      nodeId: "n1",
      workers: [{ service: "billing", workerId: "w-1", nodeId: "n1", lastSeenAt: now }],
      calls: [{ service: "billing", completed: 1, failures: 0, inFlight: 1, latencies: [10] }],
    });
    stats.trackInFlight("billing", -1);
    await view.stop();
    expect(saved).toHaveLength(2);
    expect(saved[1]!.calls).toEqual([
      { service: "billing", completed: 0, failures: 0, inFlight: 0, latencies: [10] },
    ]);
  });
});
