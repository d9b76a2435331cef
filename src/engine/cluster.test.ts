import { describe, expect, it, vi } from "vitest";
import { ManualClock, silentLogger } from "../common/index.js";
import type { NodeRenewal, Store } from "../store/index.js";
import { ClusterMembership, type ClusterHooks } from "./cluster.js";

const LEASE = 3_000;

function fakeStore(renewNode: () => Promise<NodeRenewal>): Store {
  return {
    renewNode,
    findOrphanedRuns: () => Promise.resolve([]),
  } as unknown as Store;
}

function hooks(lostLease: () => void = () => undefined): ClusterHooks {
  return {
    adopt: () => undefined,
    lostLease,
    notified: () => undefined,
    catchUp: () => Promise.resolve(),
  };
}

/** Lets pending promise callbacks run, then moves the manual clock. */
async function tick(clock: ManualClock, ms: number): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  clock.advance(ms);
}

describe("ClusterMembership", () => {
  it("measures its lease on the monotonic clock: a wall-clock jump neither ends nor stretches it", async () => {
    const clock = new ManualClock();
    let monotonic = 0;
    let answer: Promise<NodeRenewal> = Promise.resolve({ outcome: "renewed" });
    const store = fakeStore(() => answer);
    const lostLease = vi.fn();
    const on = hooks(lostLease);
    const membership = new ClusterMembership(
      { nodeId: "n1", leaseMs: LEASE, monotonicNow: () => monotonic, instance: "i1" },
      store,
      clock,
      silentLogger,
      on,
    );
    await membership.join();
    expect(membership.holdsLease()).toBe(true);

    // The wall clock leaps an hour ahead (timers fire); no monotonic time passed.
    await tick(clock, 3_600_000);
    expect(membership.holdsLease()).toBe(true);
    expect(lostLease).not.toHaveBeenCalled();

    // The database stops answering; a lease's worth of monotonic time passes.
    answer = new Promise(() => undefined);
    await tick(clock, LEASE / 3);
    monotonic += LEASE + 1;
    expect(membership.holdsLease()).toBe(false);
    await tick(clock, LEASE);
    expect(lostLease).toHaveBeenCalledOnce();
    await membership.leave();
  });

  it("starts once a previous process's lease under the same node id lapses", async () => {
    const clock = new ManualClock();
    const start = clock.now();
    let refusals = 2;
    const renewNode = vi.fn(() =>
      Promise.resolve<NodeRenewal>(
        refusals-- > 0 ? { outcome: "in_use", instance: "dead-one" } : { outcome: "renewed" },
      ),
    );
    const store = fakeStore(renewNode);
    const membership = new ClusterMembership(
      { nodeId: "n1", leaseMs: LEASE, monotonicNow: () => clock.now() - start },
      store,
      clock,
      silentLogger,
      hooks(),
    );
    let joined = false;
    const joining = membership.join().then(() => (joined = true));
    for (let i = 0; i < 10 && !joined; i++) await tick(clock, 500);
    await joining;
    expect(membership.holdsLease()).toBe(true);
    expect(renewNode).toHaveBeenCalledTimes(3);
    await membership.leave();
  });

  it("refuses to start with NODE_ID_IN_USE while another live process keeps renewing the node id", async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const store = fakeStore(() => Promise.resolve({ outcome: "in_use", instance: "live-one" }));
    const membership = new ClusterMembership(
      { nodeId: "n1", leaseMs: LEASE, monotonicNow: () => clock.now() - start },
      store,
      clock,
      silentLogger,
      hooks(),
    );
    let failure: unknown;
    const joining = membership.join().catch((e: unknown) => (failure = e));
    for (let i = 0; i < 20 && failure === undefined; i++) await tick(clock, 500);
    await joining;
    expect(failure).toMatchObject({ code: "NODE_ID_IN_USE" });
    expect((failure as Error).message).toContain("live-one");
    // It kept trying for one lease (a dead holder's lease would have lapsed by then), not more.
    expect(clock.now() - start).toBeGreaterThan(LEASE);
    expect(clock.now() - start).toBeLessThanOrEqual(LEASE + 2_000);
    expect(membership.holdsLease()).toBe(false);
  });
});
