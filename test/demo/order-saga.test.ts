import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Run } from "../../src/client/index.js";
import { runBaton } from "./harness/cli.js";
import { OrderStack, anOrder, inconsistencies } from "./harness/order-stack.js";
import { ProcessGroup } from "./harness/processes.js";

/** Starts an order as curl would, waiting for its end: `POST /v1/workflows/placeOrder/runs?wait=30`. */
async function placeOrderOverHttp(
  url: string,
  orderId: string,
): Promise<{ status: number; run: Run }> {
  const response = await fetch(`${url}/v1/workflows/placeOrder/runs?wait=30`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ runId: orderId, input: anOrder(orderId) }),
  });
  return { status: response.status, run: (await response.json()) as Run };
}

function stepsOf(run: Run): Array<[string, string, number | undefined]> {
  return run.steps.map((step) => [step.name, step.status, step.compensates]);
}

/** Inventory and shipping are reached by direct HTTP calls, payments through the durable queue. */
describe("the order saga over three service processes, both transports", () => {
  describe("when shipping accepts the order", () => {
    const group = new ProcessGroup();
    const dir = mkdtempSync(join(tmpdir(), "baton-saga-ok-"));
    let stack: OrderStack;

    beforeAll(async () => {
      stack = await OrderStack.start(group, { dir, shippingFailRate: 0 });
    });
    afterAll(async () => {
      await group.killAll();
      rmSync(dir, { recursive: true, force: true });
    });

    it("completes, each service acting once under the key {runId}:{seq}", async () => {
      const { status, run } = await placeOrderOverHttp(stack.url, "ok-1");

      expect(status).toBe(201);
      expect(run.status).toBe("completed");
      expect(stepsOf(run)).toEqual([
        ["inventory.reserve", "completed", undefined],
        ["payments.charge", "completed", undefined],
        ["shipping.ship", "completed", undefined],
      ]);
      expect(run.output).toMatchObject({
        orderId: "ok-1",
        message: expect.stringMatching(/shipped/),
      });
      const effects = stack.effects().filter((e) => e.runId === "ok-1");
      expect(effects.map((e) => `${e.service}.${e.command} ${e.key}`).sort()).toEqual([
        "inventory.reserve ok-1:1",
        "payments.charge ok-1:2",
        "shipping.ship ok-1:3",
      ]);
      expect(inconsistencies([run], stack.effects())).toEqual([]);
    });

    it("is followed by the CLI: run --wait exits 0, show and runs list it", async () => {
      const started = await runBaton(
        ["run", "placeOrder", "--id", "ok-2", "--input", JSON.stringify(anOrder("ok-2")), "--wait"],
        { url: stack.url },
      );
      expect(started.stderr).not.toMatch(/at .*\.ts:\d+/);
      expect(started.code).toBe(0);
      expect(started.stdout).toMatch(/✓ run ok-2 completed in/);
      expect(started.stdout).toMatch(/"trackingId":"trk-ok-2:3"/);

      const shown = await runBaton(["show", "ok-2"], { url: stack.url });
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/placeOrder\s+ok-2\s+completed/);
      expect(shown.stdout).toMatch(/1\s+call\s+inventory\.reserve\s+completed\s+1\s+\d+ ms/);
      expect(shown.stdout).toMatch(/2\s+call\s+payments\.charge\s+completed/);
      expect(shown.stdout).toMatch(/3\s+call\s+shipping\.ship\s+completed/);
      expect(shown.stdout).toMatch(/timeline/);

      const listed = await runBaton(["runs", "--json", "--status", "completed"], {
        url: stack.url,
      });
      const page = JSON.parse(listed.stdout) as { runs: Run[] };
      expect(page.runs.map((r) => r.runId).sort()).toEqual(["ok-1", "ok-2"]);
    });
  });

  describe("when shipping refuses every order", () => {
    const group = new ProcessGroup();
    const dir = mkdtempSync(join(tmpdir(), "baton-saga-refused-"));
    let stack: OrderStack;

    beforeAll(async () => {
      stack = await OrderStack.start(group, { dir, shippingFailRate: 1 });
    });
    afterAll(async () => {
      await group.killAll();
      rmSync(dir, { recursive: true, force: true });
    });

    it("compensates in reverse order: refund through the queue, then release over HTTP", async () => {
      const { run } = await placeOrderOverHttp(stack.url, "refused-1");

      expect(run.status).toBe("compensated");
      expect(run.error).toMatchObject({ code: "ADDRESS_UNDELIVERABLE" });
      expect(stepsOf(run)).toEqual([
        ["inventory.reserve", "completed", undefined],
        ["payments.charge", "completed", undefined],
        ["shipping.ship", "failed", undefined],
        ["payments.refund", "completed", 2],
        ["inventory.release", "completed", 1],
      ]);
      const effects = stack.effects().filter((e) => e.runId === "refused-1");
      expect(
        effects.map((e) => `${e.service}.${e.command} ${e.outcome.ok ? "done" : "refused"}`),
      ).toEqual([
        "inventory.reserve done",
        "inventory.release done",
        "payments.charge done",
        "payments.refund done",
        "shipping.ship refused",
      ]);
      expect(inconsistencies([run], stack.effects())).toEqual([]);
    });

    it("is reported by the CLI: run --wait exits 1, show marks the compensations", async () => {
      const started = await runBaton(
        [
          "run",
          "placeOrder",
          "--id",
          "refused-2",
          "--input",
          JSON.stringify(anOrder("refused-2")),
          "--wait",
        ],
        { url: stack.url },
      );
      expect(started.code).toBe(1);
      expect(started.stdout).toMatch(/✗ run refused-2 compensated after/);
      expect(started.stdout).toMatch(/error: ADDRESS_UNDELIVERABLE: /);

      const shown = await runBaton(["show", "refused-2"], { url: stack.url });
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(
        /3\s+call\s+shipping\.ship\s+failed\s+1\s+\d+ ms\s+ADDRESS_UNDELIVERABLE/,
      );
      expect(shown.stdout).toMatch(/4\s+call\s+↺ payments\.refund \(undoes 2\)\s+completed/);
      expect(shown.stdout).toMatch(/5\s+call\s+↺ inventory\.release \(undoes 1\)\s+completed/);
      expect(shown.stdout).toMatch(/↺\s+5 inventory\.release\s+ *█+/);

      const json = await runBaton(["show", "refused-2", "--json"], { url: stack.url });
      expect((JSON.parse(json.stdout) as Run).status).toBe("compensated");
    });
  });
});
