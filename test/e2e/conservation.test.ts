import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClientError, isTerminal, type Run } from "../../src/client/index.js";
import { OrderStack, type EffectRecord } from "../demo/harness/order-stack.js";
import { ProcessGroup, eventually, sleep, type TestProcess } from "../demo/harness/processes.js";
import {
  ROLLBACK_WORKFLOWS,
  journalOf,
  reportSeedOnFailure,
  seededRandom,
  testSeed,
} from "./support/e2e.js";

/** Orders placed at once (BATON_E2E_ORDERS to change it): 300 take about 20 s on two cores. */
const ORDERS = Number(process.env.BATON_E2E_ORDERS ?? 300);
const WORKFLOW = "e2eConserve";

interface Order {
  orderId: string;
  sku: string;
  qty: number;
  amount: number;
  address: string;
}

type CancelMode = "queued" | "leased";

/** What is SIGKILLed, in order, each when a (seeded) share of the charges is through. */
const SCENARIOS: Array<{ name: string; kills: Array<"worker" | "orchestrator"> }> = [
  { name: "the payments worker SIGKILLed twice", kills: ["worker", "worker"] },
  { name: "the orchestrator, then the worker, SIGKILLed", kills: ["orchestrator", "worker"] },
];

/**
 * Money is conserved through cancels and crashes: every charge that stands belongs to a
 * completed order, exactly once, whatever was cancelled while its charge sat in the queue or
 * in a worker's hands, and whatever a killed worker had charged without saying so.
 */
describe.each(SCENARIOS)("conservation of money with cancels: $name", ({ kills: toKill }) => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-e2e-conservation-"));
  const seed = testSeed();
  const random = seededRandom(seed);
  let stack: OrderStack;
  let worker: TestProcess;

  beforeAll(async () => {
    stack = await OrderStack.start(group, {
      dir,
      workflows: ROLLBACK_WORKFLOWS,
      shippingFailRate: 0.1,
      inventoryFailRate: 0.02,
      leaseMs: 3_000,
      workers: 0,
      seed: String(seed),
      workerEnv: {
        // 0–2 s per charge, half of it after the card is charged: a killed worker leaves
        // charges nobody was told about.
        LATENCY_MS: "0-1000",
        PAYMENTS_REPLY_LATENCY_MS: "0-1000",
        PAYMENTS_FAIL_RATE: "0.05",
        PAYMENTS_CONCURRENCY: "25",
      },
    });
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`charges − refunds = the payments of completed runs, exactly, over ${ORDERS} orders`, async () => {
    reportSeedOnFailure(seed);
    const started = Date.now();
    const orders = Array.from({ length: ORDERS }, (_, i): Order => ({
      orderId: `c-${i + 1}`,
      sku: `SKU-${1 + Math.floor(random() * 5)}`,
      qty: 1 + Math.floor(random() * 3),
      amount: 5 + Math.floor(random() * 200),
      address: `${i + 1} Conservation Road`,
    }));
    // A third is cancelled: half while the charge waits in the queue, half while a worker has it.
    const toCancel = new Map<string, CancelMode>();
    for (const order of orders) {
      const draw = random();
      if (draw < 1 / 6) toCancel.set(order.orderId, "queued");
      else if (draw < 1 / 3) toCancel.set(order.orderId, "leased");
    }
    const cancelledAt = new Map<string, number>();
    const lateCancels: string[] = [];
    const amountOf = new Map(orders.map((o) => [o.orderId, o.amount]));

    // Place every order, a few requests at a time.
    const placing = (async () => {
      const queue = [...orders];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let order = queue.shift(); order; order = queue.shift()) {
            await stack.client.startRun(WORKFLOW, order, { runId: order.orderId });
          }
        }),
      );
    })();

    const cancelAccepted = new Map<string, number>();
    const cancel = async (orderId: string): Promise<void> => {
      cancelledAt.set(orderId, Date.now());
      try {
        await stack.client.cancel(orderId, { reason: "customer changed their mind" });
        cancelAccepted.set(orderId, Date.now());
      } catch (e) {
        if (e instanceof BatonClientError && e.code === "UNAVAILABLE") {
          cancelledAt.delete(orderId); // the orchestrator is down: ask again later
          return;
        }
        if (!(e instanceof BatonClientError) || e.code !== "RUN_TERMINAL") throw e;
        lateCancels.push(orderId);
      }
    };

    const killAt = [0.25 + random() * 0.15, 0.55 + random() * 0.15].map((f) =>
      Math.floor(f * ORDERS),
    );
    let kills = 0;
    let runs: Run[] = [];
    let done = false;
    // A burst of orders first, then the worker: every charge is queued to begin with.
    await placing;
    worker = await stack.startWorker();
    while (!done) {
      const effects = stack.effects();
      const charged = new Set(chargesIn(effects).map((e) => e.runId));
      const delivered = new Set(
        stack
          .deliveries()
          .filter((d) => d.command === "charge")
          .map((d) => d.runId),
      );
      const listed = await listAll(stack, WORKFLOW).catch((e: unknown) => {
        // Only while the orchestrator restarts.
        if (e instanceof BatonClientError && e.code === "UNAVAILABLE") return undefined;
        throw e;
      });
      if (listed) runs = listed;
      const cancels: Array<Promise<void>> = [];
      for (const run of runs) {
        const mode = toCancel.get(run.runId);
        if (!mode || cancelledAt.has(run.runId) || isTerminal(run.status)) continue;
        const chargeOut = run.waitingOn?.kind === "task" && run.waitingOn.seq === 2;
        if (chargeOut && delivered.has(run.runId) === (mode === "leased")) {
          cancels.push(cancel(run.runId));
        }
      }
      await Promise.all(cancels);
      if (kills < killAt.length && charged.size >= killAt[kills]!) {
        if (toKill[kills] === "worker") {
          worker.kill("SIGKILL");
          await worker.exited;
          worker = await stack.startWorker();
        } else {
          const port = stack.port;
          stack.orchestrator.kill("SIGKILL");
          await stack.orchestrator.exited;
          // Cancels and lists meanwhile fail UNAVAILABLE; the worker's polls retry by themselves.
          await stack.startOrchestrator(port);
        }
        kills++;
      }
      done =
        listed !== undefined &&
        runs.length === ORDERS &&
        runs.every((run) => isTerminal(run.status));
      if (Date.now() - started > 150_000) {
        throw new Error(
          `not every run ended in 150 s (seed ${seed}): ${JSON.stringify(
            runs
              .filter((run) => !isTerminal(run.status))
              .slice(0, 5)
              .map((run) => [run.runId, run.status, run.waitingOn]),
          )}`,
        );
      }
      if (!done) await sleep(50); // poll interval of a loop bounded at 150 s above
    }
    const elapsed = Date.now() - started;

    const effects = stack.effects();
    const problems: string[] = [];
    // Each idempotency key took effect once per service.
    const seen = new Set<string>();
    for (const effect of effects) {
      const id = `${effect.service}:${effect.key}`;
      if (seen.has(id)) problems.push(`${effect.service} acted twice on key ${effect.key}`);
      seen.add(id);
    }
    const charges = chargesIn(effects);
    const refunds = effects.filter(
      (e) => e.service === "payments" && e.command === "refund" && e.outcome.ok,
    );
    const refunded = refunds.filter((e) => outputOf<{ refunded: string | null }>(e).refunded);
    const standing = new Map<string, { count: number; amount: number }>();
    const add = (orderId: string, count: number, amount: number): void => {
      const s = standing.get(orderId) ?? { count: 0, amount: 0 };
      standing.set(orderId, { count: s.count + count, amount: s.amount + amount });
    };
    for (const charge of charges) {
      const payment = outputOf<{ orderId: string; amount: number }>(charge);
      if (payment.amount !== amountOf.get(payment.orderId)) {
        problems.push(`charge ${charge.key} took ${payment.amount}, the order says otherwise`);
      }
      add(payment.orderId, 1, payment.amount);
    }
    for (const refund of refunded) {
      const { orderId, amount } = outputOf<{ orderId: string; amount: number }>(refund);
      add(orderId, -1, -amount);
    }
    const byStatus = new Map<string, number>();
    for (const run of runs) {
      byStatus.set(run.status, (byStatus.get(run.status) ?? 0) + 1);
      const left = standing.get(run.runId) ?? { count: 0, amount: 0 };
      const want =
        run.status === "completed"
          ? { count: 1, amount: amountOf.get(run.runId)! }
          : { count: 0, amount: 0 };
      if (
        run.status !== "completed" &&
        run.status !== "cancelled" &&
        run.status !== "compensated"
      ) {
        problems.push(
          `run ${run.runId} ended ${run.status} ${JSON.stringify(run.error)}: ${(
            await journalOf(stack.client, run.runId)
          ).join(", ")}`,
        );
      } else if (left.count !== want.count || left.amount !== want.amount) {
        problems.push(
          `run ${run.runId} ended ${run.status} with ${left.count} charge(s) standing (${left.amount}), expected ${want.count} (${want.amount}): ${(
            await journalOf(stack.client, run.runId)
          ).join(", ")}`,
        );
      }
      // The stock, too: held for a completed order, for no other.
      const reserves = effects.filter(
        (e) => e.runId === run.runId && e.service === "inventory" && e.outcome.ok,
      );
      const held =
        reserves.filter((e) => e.command === "reserve").length -
        reserves.filter((e) => e.command === "release").length;
      if (held !== (run.status === "completed" ? 1 : 0)) {
        problems.push(`run ${run.runId} ended ${run.status} with ${held} reservation(s) held`);
      }
    }
    const completed = runs.filter((run) => run.status === "completed");
    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
    const totals = {
      charges: charges.length,
      refunds: refunded.length,
      chargedAmount: sum(charges.map((e) => outputOf<{ amount: number }>(e).amount)),
      refundedAmount: sum(refunded.map((e) => outputOf<{ amount: number }>(e).amount)),
    };

    // What the cancels hit: before any delivery of the charge, or while a worker had it.
    const firstDelivery = new Map<string, number>();
    for (const d of stack.deliveries()) {
      if (d.command === "charge" && !firstDelivery.has(d.runId)) {
        firstDelivery.set(d.runId, Date.parse(d.at));
      }
    }
    const cancelled = runs.filter((run) => run.status === "cancelled");
    const hitQueued = cancelled.filter((run) => !firstDelivery.has(run.runId));
    const hitLeased = cancelled.filter((run) => {
      const delivered = firstDelivery.get(run.runId);
      return delivered !== undefined && delivered <= cancelledAt.get(run.runId)!;
    });
    // A worker may claim the charge between the cancel request and its withdrawal: harmless.
    const withdrawnAfterAll = cancelled.filter(
      (run) =>
        firstDelivery.has(run.runId) && firstDelivery.get(run.runId)! > cancelledAt.get(run.runId)!,
    );
    // A charge first delivered well after its run's cancel was accepted: it was queued then,
    // so the cancel should have withdrawn it (docs/workflows.md, "Rolling back": never delivered).
    const deliveredAfterAccepted = cancelled.filter(
      (run) =>
        cancelAccepted.has(run.runId) &&
        (firstDelivery.get(run.runId) ?? 0) > cancelAccepted.get(run.runId)! + 1_000,
    );
    for (const run of deliveredAfterAccepted) {
      console.log(
        `charge of ${run.runId} first delivered ${firstDelivery.get(run.runId)! - cancelAccepted.get(run.runId)!} ms after its cancel was accepted: ${JSON.stringify(
          await stack.client.history(run.runId),
        )}`,
      );
    }
    // Refunds sent without a payment: the compensation of a charge whose outcome was unknown.
    const blindRefunds = stack
      .deliveries()
      .filter(
        (d) =>
          d.command === "refund" &&
          (d.input as { paymentId?: string } | null)?.paymentId === undefined,
      );
    const redelivered = stack.deliveries().filter((d) => d.command === "charge" && d.attempt > 1);
    // A charge delivered again (its worker killed) after its run's cancel was accepted: a
    // rollback awaits a leased task until its lease runs out, then treats it as unknown —
    // never charge a customer who cancelled. (The margin covers a claim made just before the
    // cancel and logged by the worker just after.)
    const chargedAfterCancel = redelivered.filter(
      (d) => cancelAccepted.has(d.runId) && Date.parse(d.at) > cancelAccepted.get(d.runId)! + 500,
    );
    if (chargedAfterCancel.length > 0) {
      const example = chargedAfterCancel[0]!.runId;
      console.log(
        `charges delivered again after their run was cancelled: ${chargedAfterCancel
          .map((d) => `${d.runId} attempt ${d.attempt}`)
          .join(", ")}; journal of ${example}: ${JSON.stringify(
          await stack.client.history(example),
        )}`,
      );
    }
    console.log(
      `conservation: ${ORDERS} orders in ${(elapsed / 1000).toFixed(1)} s, seed ${seed}, killed ${toKill.join(" and ")}; ` +
        `${JSON.stringify(Object.fromEntries(byStatus))}; cancels sent ${cancelledAt.size} ` +
        `(${hitQueued.length} before any delivery, ${hitLeased.length} while delivered, ` +
        `${withdrawnAfterAll.length} delivered after the cancel, ${lateCancels.length} too late); ` +
        `${redelivered.length} charge redeliveries (${chargedAfterCancel.length} after a cancel), ${blindRefunds.length} refunds of unknown outcomes; ` +
        `${JSON.stringify(totals)}`,
    );

    expect(problems, `seed ${seed}`).toEqual([]);
    expect(totals.charges - totals.refunds, `seed ${seed}`).toBe(completed.length);
    expect(totals.chargedAmount - totals.refundedAmount, `seed ${seed}`).toBe(
      sum(completed.map((run) => amountOf.get(run.runId)!)),
    );
    expect(kills).toBe(2);
    expect(
      deliveredAfterAccepted.map((run) => run.runId),
      "charges first delivered after their run's cancel was accepted",
    ).toEqual([]);
    expect(
      chargedAfterCancel.map((d) => `${d.runId} attempt ${d.attempt}`),
      "charges delivered again after their run's cancel",
    ).toEqual([]);
    expect(hitQueued.length, "cancels that found the charge queued").toBeGreaterThan(0);
    expect(hitLeased.length, "cancels that found the charge with a worker").toBeGreaterThan(0);
    expect(cancelled.length).toBeGreaterThanOrEqual(Math.floor(ORDERS / 5));
    await eventually("the payments queue to drain", async () => {
      const payments = (await stack.client.services()).find((s) => s.name === "payments");
      return payments?.queueDepth === 0 && payments.inFlight === 0;
    });
  }, 240_000);
});

function chargesIn(effects: readonly EffectRecord[]): EffectRecord[] {
  return effects.filter((e) => e.service === "payments" && e.command === "charge" && e.outcome.ok);
}

function outputOf<T>(effect: EffectRecord): T {
  if (!effect.outcome.ok) throw new Error(`effect ${effect.key} was a refusal`);
  return effect.outcome.output as T;
}

async function listAll(stack: OrderStack, workflow: string): Promise<Run[]> {
  const runs: Run[] = [];
  let cursor: string | undefined;
  do {
    const page = await stack.client.listRuns({
      workflow,
      limit: 1000,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return runs;
}
