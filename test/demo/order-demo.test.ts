import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Run, ServiceInfo } from "../../src/client/index.js";
import {
  ProcessGroup,
  childrenOf,
  eventually,
  freePort,
  groupMembers,
  isAlive,
  killGroup,
} from "./harness/processes.js";

/** GET as curl would, JSON back. */
async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

async function runsWithStatus(url: string, status: string): Promise<Run[]> {
  return (
    await getJson<{ runs: Run[] }>(`${url}/v1/runs?workflow=placeOrder&status=${status}&limit=5`)
  ).runs;
}

describe("the order demo (npm start)", () => {
  const group = new ProcessGroup();
  const dirs: string[] = [];
  const dataDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "baton-demo-"));
    dirs.push(dir);
    return dir;
  };

  afterEach(async () => {
    await group.killAll();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("shows completed and compensated orders through the API, and Ctrl-C stops everything", async () => {
    const port = await freePort();
    // Detached: the demo gets a process group of its own, which is what Ctrl-C signals.
    const npm = group.spawn(
      "npm start",
      "npm",
      ["start", "--", "--port", String(port), "--data-dir", dataDir(), "--orders-per-second", "6"],
      {
        detached: true,
        env: { SHIPPING_FAIL_RATE: "0.3" },
      },
    );
    const url = `http://127.0.0.1:${port}`;
    await npm.waitForOutput(/Ctrl-C stops/, 45_000);
    expect(npm.output).toContain(`curl '${url}/v1/runs?status=compensated'`);
    expect(npm.output).toContain("npx baton runs");
    expect(npm.output).toContain(`dashboard  ${url}/`);

    const [completed, compensated] = await eventually(
      "a completed and a compensated order",
      async () => {
        const found = await Promise.all([
          runsWithStatus(url, "completed"),
          runsWithStatus(url, "compensated"),
        ]);
        return found[0].length > 0 && found[1].length > 0 ? found : undefined;
      },
      60_000,
      250,
    );
    const shipped = await getJson<Run>(`${url}/v1/runs/${completed[0]!.runId}`);
    expect(shipped.steps.map((s) => s.name)).toEqual([
      "inventory.reserve",
      "payments.charge",
      "shipping.ship",
    ]);
    const rolledBack = await getJson<Run>(`${url}/v1/runs/${compensated[0]!.runId}`);
    expect(rolledBack.steps.map((s) => s.name)).toEqual([
      "inventory.reserve",
      "payments.charge",
      "shipping.ship",
      "payments.refund",
      "inventory.release",
    ]);
    const { services } = await getJson<{ services: ServiceInfo[] }>(`${url}/v1/services`);
    expect(services.map((s) => [s.name, s.transport]).sort()).toEqual([
      ["inventory", "http"],
      ["payments", "queue"],
      ["shipping", "http"],
    ]);
    expect(services.find((s) => s.name === "payments")?.workers).toBeGreaterThanOrEqual(1);

    const members = groupMembers(npm.pid);
    expect(members.length).toBeGreaterThanOrEqual(5); // npm, tsx, the demo, three services
    killGroup(npm.pid, "SIGINT");
    const exit = await npm.exited;
    // npm re-raises the signal its script got at once; the demo shuts down behind it.
    expect(exit.code === 0 || exit.signal === "SIGINT").toBe(true);
    await eventually(
      "every process of the demo to exit",
      () => members.every((pid) => !isAlive(pid)),
      15_000,
    );
    await eventually(
      "the demo to say it stopped",
      () => npm.output.includes("demo stopped"),
      2_000,
    );
  });

  it("moves with PORT, and SIGINT to the demo alone exits 0 and stops its services", async () => {
    const port = await freePort();
    const demo = group.startBaton(
      "demo",
      ["demo", "--data-dir", dataDir(), "--orders-per-second", "0"],
      {
        PORT: String(port),
      },
    );
    await demo.waitForOutput(new RegExp(`API\\s+http://127\\.0\\.0\\.1:${port}/v1`), 45_000);
    const children = childrenOf(demo.pid);
    expect(children.filter(isServiceProcess)).toHaveLength(3);

    demo.kill("SIGINT");
    expect(await demo.exited).toEqual({ code: 0, signal: null });
    expect(demo.output).toMatch(/demo stopped/);
    await eventually("its children to exit", () => children.every((pid) => !isAlive(pid)), 10_000);
  });

  it("takes its services along when it is SIGKILLed", async () => {
    const demo = group.startBaton("demo", [
      "demo",
      "--port",
      "0",
      "--data-dir",
      dataDir(),
      "--orders-per-second",
      "0",
    ]);
    await demo.waitForOutput(/Ctrl-C stops/, 45_000);
    const children = childrenOf(demo.pid);
    expect(children.filter(isServiceProcess)).toHaveLength(3);

    demo.kill("SIGKILL");
    await demo.exited;
    // The services watch their IPC channel to the demo, tsx's esbuild watches its stdin.
    await eventually(
      "its orphaned children to exit",
      () => children.every((pid) => !isAlive(pid)),
      10_000,
    );
  });
});

function isServiceProcess(pid: number): boolean {
  try {
    return /examples\/order-demo\/(inventory|payments|shipping)\.ts/.test(
      // /proc is Linux-only; so is this test's process-group bookkeeping.
      readFileSync(`/proc/${pid}/cmdline`, "utf8"),
    );
  } catch {
    return false;
  }
}
