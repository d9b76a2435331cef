import { describe, expect, it } from "vitest";
import type { Store } from "./store.js";
import { T0, newRun } from "./test-records.js";
import type { NewDelivery } from "./webhook-store.js";

/**
 * The webhook cases of the store conformance suite (called from conformance.ts inside its
 * describe, so each case gets a fresh migrated store from `current()`).
 */
export function webhookConformance(current: () => Store): void {
  describe("webhooks", () => {
    let runs = 0;

    /** Commits one run ending with `count` events; returns their ids. */
    async function publish(count: number): Promise<number[]> {
      const store = current();
      const runId = `wh-${++runs}`;
      await store.commit([{ type: "createRun", run: newRun(runId) }]);
      const before = await store.readEvents(0, 10_000);
      await store.commit([
        {
          type: "appendRun",
          runId,
          epoch: 0,
          expectedLength: 1,
          entries: [],
          update: { status: "completed", updatedAt: T0 + 1, wakeAt: null, waitingOn: null },
          events: Array.from({ length: count }, (_, i) => ({
            type: "run.completed",
            runId,
            workflow: "order",
            status: "completed" as const,
            data: JSON.stringify({ i }),
            at: T0 + i,
          })),
        },
      ]);
      const after = await store.readEvents(before.at(-1)?.position ?? 0, 10_000);
      return after.map((e) => e.position!);
    }

    function subscribe(subscriptionId: string, createdAt = T0) {
      return current().webhooks.createSubscription({
        subscriptionId,
        topics: ["run.*"],
        url: "http://127.0.0.1:9/hook",
        secret: "whsec_c2VjcmV0",
        createdAt,
      });
    }

    function delivery(subscriptionId: string, eventId: number, createdAt = T0): NewDelivery {
      return {
        subscriptionId,
        eventId,
        eventKey: String(eventId),
        topic: "run.completed",
        payload: JSON.stringify({ eventId }),
        createdAt,
      };
    }

    const fanOut = (
      fromEventId: number,
      toEventId: number,
      deliveries: NewDelivery[],
      knownSubscriptions = ["s-1", "s-2"],
    ) => current().webhooks.fanOut({ fromEventId, toEventId, deliveries, knownSubscriptions });

    const record = async (
      outcome: Parameters<Store["webhooks"]["recordAttempts"]>[0][number],
    ): Promise<"recorded" | "lost"> => (await current().webhooks.recordAttempts([outcome]))[0]!;

    const claim = (
      now: number,
      fields: Partial<Parameters<Store["webhooks"]["claimDeliveries"]>[0]> = {},
    ) =>
      current().webhooks.claimDeliveries({
        now,
        limit: 10,
        leaseMs: 1_000,
        perSubscription: 10,
        excludeSubscriptions: [],
        ...fields,
      });

    it("stores, lists, finds and deletes subscriptions; a new one starts after the newest event", async () => {
      const webhooks = current().webhooks;
      const [first] = await publish(2).then((ids) => ids.slice(-1));
      const created = await subscribe("s-1");
      expect(created).toEqual({
        subscriptionId: "s-1",
        topics: ["run.*"],
        url: "http://127.0.0.1:9/hook",
        secret: "whsec_c2VjcmV0",
        createdAt: T0,
        afterEventId: first,
      });
      await subscribe("s-2", T0 + 1);
      expect(await webhooks.findSubscription("s-1")).toEqual(created);
      expect((await webhooks.listSubscriptions()).map((s) => s.subscriptionId)).toEqual([
        "s-1",
        "s-2",
      ]);
      expect(await webhooks.deleteSubscription("s-1")).toBe(true);
      expect(await webhooks.deleteSubscription("s-1")).toBe(false);
      expect(await webhooks.findSubscription("s-1")).toBeUndefined();
    });

    it("a subscription made on an empty log starts at 0", async () => {
      expect((await subscribe("s-1")).afterEventId).toBe(0);
    });

    it("moves the cursor compare-and-set: a second fan-out from the same place writes nothing", async () => {
      const webhooks = current().webhooks;
      await subscribe("s-1");
      const ids = await publish(2);
      expect(await webhooks.readCursor()).toBe(0);
      const deliveries = ids.map((id) => delivery("s-1", id));
      expect(await fanOut(0, ids[1]!, deliveries)).toBe(true);
      expect(await fanOut(0, ids[1]!, [delivery("s-1", 999)])).toBe(false);
      expect(await webhooks.readCursor()).toBe(ids[1]);
      expect((await claim(T0)).map((d) => d.eventId)).toEqual(ids);
    });

    it("refuses to fan out while a subscription it was not told of wants those events", async () => {
      const webhooks = current().webhooks;
      await subscribe("s-1");
      await subscribe("s-3");
      expect(await fanOut(0, 1, [delivery("s-1", 1)], ["s-1"])).toBe(false);
      expect(await webhooks.readCursor()).toBe(0);
      expect(await claim(T0)).toEqual([]);
      expect(await fanOut(0, 1, [delivery("s-1", 1)], ["s-1", "s-3"])).toBe(true);
    });

    it("skips deliveries of a subscription deleted meanwhile, and keeps an existing one as it is", async () => {
      await subscribe("s-1");
      expect(await fanOut(0, 5, [delivery("s-gone", 1), delivery("s-1", 2)])).toBe(true);
      expect(await claim(T0)).toHaveLength(1);
      expect(await fanOut(5, 6, [delivery("s-1", 2)])).toBe(true);
      // Still leased by the claim above, not reset to a fresh pending delivery.
      expect(await claim(T0)).toEqual([]);
    });

    it("leases each attempt to one claimer until the lease lapses, then hands out the next attempt", async () => {
      await subscribe("s-1");
      await fanOut(0, 1, [delivery("s-1", 1)]);
      const [first] = await claim(T0, { leaseMs: 1_000 });
      expect(first).toMatchObject({
        subscriptionId: "s-1",
        eventId: 1,
        eventKey: "1",
        topic: "run.completed",
        attempt: 1,
        leaseExpiresAt: T0 + 1_000,
        url: "http://127.0.0.1:9/hook",
        secret: "whsec_c2VjcmV0",
      });
      expect(await claim(T0 + 999)).toEqual([]);
      const [second] = await claim(T0 + 1_000);
      expect(second).toMatchObject({ eventId: 1, attempt: 2 });
      expect(second!.leaseToken).not.toBe(first!.leaseToken);
    });

    it("never hands the same attempt to two concurrent claimers", async () => {
      await subscribe("s-1");
      await fanOut(
        0,
        20,
        Array.from({ length: 20 }, (_, i) => delivery("s-1", i + 1)),
      );
      const claims = await Promise.all(
        Array.from({ length: 4 }, () => claim(T0, { limit: 20, perSubscription: 20 })),
      );
      const all = claims.flat().map((d) => d.eventId);
      expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it("claims at most perSubscription of one subscription and none of an excluded one", async () => {
      await subscribe("s-1");
      await subscribe("s-2");
      await fanOut(0, 9, [
        ...[1, 2, 3, 4].map((id) => delivery("s-1", id)),
        ...[5, 6].map((id) => delivery("s-2", id)),
      ]);
      expect(
        (await claim(T0, { perSubscription: 1, excludeSubscriptions: ["s-2"] })).map(
          (d) => d.eventId,
        ),
      ).toEqual([1]);
      expect((await claim(T0, { perSubscription: 2 })).map((d) => d.eventId)).toEqual([2, 3, 5, 6]);
    });

    it("records attempts: a failure sets the next attempt, a 2xx ends the delivery, a lost lease is told", async () => {
      const webhooks = current().webhooks;
      await subscribe("s-1");
      await fanOut(0, 1, [delivery("s-1", 1)]);
      const [first] = await claim(T0);
      const failed = {
        subscriptionId: "s-1",
        eventId: 1,
        eventKey: "1",
        attempt: 1,
        at: T0,
        durationMs: 12,
        statusCode: 500,
        error: "HTTP 500",
        nextAttemptAt: T0 + 5_000,
        leaseToken: first!.leaseToken,
      };
      expect(await record(failed)).toBe("recorded");
      expect(await webhooks.nextDeliveryAt()).toBe(T0 + 5_000);
      expect(await claim(T0 + 4_999)).toEqual([]);
      const [second] = await claim(T0 + 5_000);
      // The first sender's lease is gone: its late failure cannot reschedule the delivery.
      expect(await record({ ...failed, attempt: 1 })).toBe("lost");
      expect(await webhooks.deliveryBacklog()).toEqual({ pending: 1, oldestCreatedAt: T0 });
      const delivered = {
        ...failed,
        attempt: 2,
        at: T0 + 5_000,
        statusCode: 204,
        error: null,
        nextAttemptAt: null,
        leaseToken: second!.leaseToken,
      };
      expect(await record(delivered)).toBe("recorded");
      expect(await webhooks.deliveryBacklog()).toEqual({ pending: 0, oldestCreatedAt: null });
      expect(await webhooks.nextDeliveryAt()).toBeUndefined();
      expect(await claim(T0 + 60_000)).toEqual([]);
      const { leaseToken: _a, ...firstRecord } = failed;
      const { leaseToken: _b, ...secondRecord } = delivered;
      expect(await webhooks.listAttempts("s-1", 10)).toEqual([secondRecord, firstRecord]);
      expect(await webhooks.listAttempts("s-1", 1)).toEqual([secondRecord]);
    });

    it("prunes deliveries delivered before a time, with their attempts, and keeps pending ones", async () => {
      const webhooks = current().webhooks;
      await subscribe("s-1");
      await fanOut(
        0,
        3,
        [1, 2, 3].map((id) => delivery("s-1", id)),
      );
      const claimed = await claim(T0);
      const outcome = (eventId: number, at: number, nextAttemptAt: number | null) => ({
        subscriptionId: "s-1",
        eventId,
        eventKey: String(eventId),
        attempt: 1,
        at,
        durationMs: 0,
        statusCode: nextAttemptAt === null ? 200 : 500,
        error: nextAttemptAt === null ? null : "HTTP 500",
        nextAttemptAt,
        leaseToken: claimed.find((d) => d.eventId === eventId)!.leaseToken,
      });
      await record(outcome(1, T0 + 10, null));
      await record(outcome(2, T0 + 30, null));
      await record(outcome(3, T0 + 10, T0 + 100));
      expect(await webhooks.pruneDelivered(T0 + 20, 10)).toBe(1);
      expect((await webhooks.listAttempts("s-1", 10)).map((a) => a.eventId).sort()).toEqual([2, 3]);
      expect(await webhooks.pruneDelivered(T0 + 20, 10)).toBe(0);
      expect(await webhooks.deliveryBacklog()).toEqual({ pending: 1, oldestCreatedAt: T0 });
    });

    it("deleting a subscription removes its deliveries and attempts", async () => {
      const webhooks = current().webhooks;
      await subscribe("s-1");
      await fanOut(0, 1, [delivery("s-1", 1)]);
      const [claimed] = await claim(T0);
      await record({
        subscriptionId: "s-1",
        eventId: 1,
        eventKey: "1",
        attempt: 1,
        at: T0,
        durationMs: 1,
        statusCode: null,
        error: "ECONNREFUSED",
        nextAttemptAt: T0 + 1,
        leaseToken: claimed!.leaseToken,
      });
      await webhooks.deleteSubscription("s-1");
      expect(await webhooks.listAttempts("s-1", 10)).toEqual([]);
      expect(await webhooks.deliveryBacklog()).toEqual({ pending: 0, oldestCreatedAt: null });
    });
  });
}
