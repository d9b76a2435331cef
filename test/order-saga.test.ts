import { afterEach, describe, expect, it } from "vitest";
import { Baton, silentLogger } from "../src/index.js";
import {
  anOrder,
  createOrderServices,
  createPlaceOrder,
  type OrderServices,
} from "./fixtures/order-saga.js";
import { EXECUTION_MODES } from "./support/modes.js";
import { tempDbUrl } from "./support/temp-db.js";

describe.each(EXECUTION_MODES)("order saga ($name)", ({ replayAfterEveryOp }) => {
  let baton: Baton | undefined;
  let cleanup: (() => void) | undefined;

  async function open(services: OrderServices): Promise<Baton> {
    const db = tempDbUrl();
    cleanup = db.cleanup;
    baton = await Baton.open({
      db: db.url,
      workflows: [createPlaceOrder(services)],
      services: services.services,
      replayAfterEveryOp,
      logger: silentLogger,
    });
    return baton;
  }

  afterEach(async () => {
    await baton?.close();
    cleanup?.();
  });

  it("reserves, charges and ships on the success path", async () => {
    const services = createOrderServices();
    const engine = await open(services);
    await engine.start("placeOrder", anOrder("o-1"), { runId: "o-1" });
    const output = await engine.result<{ message: string }>("o-1");
    expect(output.message).toBe("Your order has been shipped");
    expect(services.effects).toEqual(["inventory.reserve", "payments.charge", "shipping.ship"]);
    const run = await engine.get("o-1");
    expect(run.status).toBe("completed");
    expect(run.steps.map((s) => [s.name, s.status])).toEqual([
      ["inventory.reserve", "completed"],
      ["payments.charge", "completed"],
      ["shipping.ship", "completed"],
    ]);
  });

  it("compensates in reverse order when ship fails for good: refund, then release", async () => {
    const services = createOrderServices();
    services.faults.shipFails = true;
    const engine = await open(services);
    await engine.start("placeOrder", anOrder("o-2"), { runId: "o-2" });
    const run = await engine.wait("o-2");
    expect(run.status).toBe("compensated");
    expect(run.error?.code).toBe("NO_CARRIER");
    expect(services.effects).toEqual([
      "inventory.reserve",
      "payments.charge",
      "payments.refund",
      "inventory.release",
    ]);
    const compensations = run.steps.filter((s) => s.compensates !== undefined);
    expect(compensations.map((s) => [s.name, s.compensates])).toEqual([
      ["payments.refund", 2],
      ["inventory.release", 1],
    ]);
    // business failures are not retried
    expect(run.steps.find((s) => s.name === "shipping.ship")).toMatchObject({
      status: "failed",
      attempts: 1,
    });
  });

  it("ends failed when a compensation keeps failing, and compensates after the fault is fixed and the run retried", async () => {
    const services = createOrderServices();
    services.faults.shipFails = true;
    services.faults.refundFails = true;
    const engine = await open(services);
    const events: string[] = [];
    engine.on((e) => events.push(`${e.type}:${e.status}`));
    await engine.start("placeOrder", anOrder("o-3"), { runId: "o-3" });
    const failed = await engine.wait("o-3");
    expect(failed.status).toBe("failed");
    expect(failed.error?.code).toBe("COMPENSATION_FAILED");
    expect(failed.error?.message).toContain("payments.charge");
    const refund = failed.steps.find((s) => s.name === "payments.refund");
    expect(refund).toMatchObject({ status: "failed", attempts: 3 });
    expect(events).toContain("run.failed:failed");
    const history = await engine.history("o-3");
    expect(history.map((e) => e.type)).toContain("run.failed");

    services.faults.refundFails = false;
    await engine.retry("o-3");
    const compensated = await engine.wait("o-3");
    expect(compensated.status).toBe("compensated");
    expect(compensated.error?.code).toBe("NO_CARRIER");
    expect(services.effects).toEqual([
      "inventory.reserve",
      "payments.charge",
      "payments.refund",
      "inventory.release",
    ]);
    // completed steps did not run again
    expect(services.executions.get("o-3:1")).toBe(1);
    expect(services.executions.get("o-3:2")).toBe(1);
    expect(events.filter((e) => e === "run.failed:compensated")).toHaveLength(1);
  });

  it("retries a transient failure and shows the attempts on the step", async () => {
    const services = createOrderServices();
    services.faults.chargeTransientFailures = 2;
    const engine = await open(services);
    await engine.start("placeOrder", anOrder("o-4"), { runId: "o-4" });
    await engine.result("o-4");
    const run = await engine.get("o-4");
    expect(run.steps.find((s) => s.name === "payments.charge")).toMatchObject({
      status: "completed",
      attempts: 3,
    });
    expect(services.effects).toEqual(["inventory.reserve", "payments.charge", "shipping.ship"]);
  });

  it("refuses to retry a run that did not fail", async () => {
    const services = createOrderServices();
    const engine = await open(services);
    await engine.start("placeOrder", anOrder("o-5"), { runId: "o-5" });
    await engine.result("o-5");
    await expect(engine.retry("o-5")).rejects.toMatchObject({ code: "RUN_NOT_FAILED" });
    await expect(engine.cancel("o-5")).rejects.toMatchObject({ code: "RUN_TERMINAL" });
    await expect(engine.signal("o-5", "x")).rejects.toMatchObject({ code: "RUN_TERMINAL" });
  });
});
