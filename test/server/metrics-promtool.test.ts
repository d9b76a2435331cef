import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait-for.js";
import { serverFixture } from "./server-fixture.js";

/** promtool ships with Prometheus (Debian: the `prometheus` package, which .ci/run installs). */
const PROMTOOL = process.env.PROMTOOL ?? "promtool";

function promtoolCheck(text: string): Promise<{ code: number | null; output: string } | "absent"> {
  return new Promise((resolve) => {
    const child = spawn(PROMTOOL, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (e: NodeJS.ErrnoException) =>
      resolve(e.code === "ENOENT" ? "absent" : { code: null, output: String(e) }),
    );
    child.once("close", (code) => resolve({ code, output }));
    child.stdin.on("error", () => {}); // a missing binary closes stdin early; "error" above reports it
    child.stdin.end(text);
  });
}

const promtoolAbsent = (await promtoolCheck("")) === "absent";

describe("/metrics", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it.skipIf(promtoolAbsent)(
    "passes `promtool check metrics` with runs completed, compensated, retried and queued (skipped without promtool on the PATH)",
    async () => {
      const { baton, url } = await fixture.listen({ processMetrics: true });
      const post = (path: string, body: unknown): Promise<Response> =>
        fetch(`${url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      await post("/v1/workflows/greet/runs?wait=10", { input: { name: "m" } });
      await post("/v1/workflows/saga/runs?wait=10", { runId: "saga-1" });
      await post("/v1/workflows/charge/runs", {
        runId: "o-1",
        input: { orderId: "o-1", cents: 1 },
      });
      await waitFor(
        async () => (await baton.list({ workflow: "charge", status: "waiting" })).runs.length === 1,
      );
      await post("/v1/services/payments/tasks/poll", { workerId: "w-1" });

      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain("baton_runs_finished_total");
      const checked = await promtoolCheck(metrics);
      expect(checked, metrics).not.toBe("absent");
      expect(checked).toEqual({ code: 0, output: "" });
    },
  );
});
