import { Agent, request } from "undici";
import { drive } from "../driver.js";
import { anOrder } from "../workloads/order-saga.js";
import { startApiServer } from "./api-server.js";
import type { ScaleFigure, ScaleResult } from "./figure.js";
import { StoreProbe, TERMINAL, pollUntil } from "./store-probe.js";

const WORKFLOW = "orderSaga";
const STEPS_PER_RUN = 3;

/**
 * W2: runs started per second through the HTTP API. The orchestrator serves the API from a
 * child process (SQLite, default durability); from here, C client loops on keep-alive
 * connections each `POST /v1/workflows/orderSaga/runs` with a fresh runId, wait for the 201,
 * and post the next. The runs (W1's three in-process steps) execute in the server meanwhile,
 * so the figure is starts/s of a server that is also running what it started. Afterwards every
 * started run must be in the store and, once they have had time, completed.
 */
export const httpStarts: ScaleFigure = {
  id: "http-starts",
  title: "Runs started per second through the HTTP API",
  async run(plan, progress): Promise<ScaleResult> {
    const problems: string[] = [];
    const server = await startApiServer("baton-bench-http-");
    const agent = new Agent({ connections: plan.httpClients, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
    let probe: StoreProbe | undefined;
    try {
      const startRun = async (runId: string): Promise<string | undefined> => {
        const response = await request(`${server.url}/v1/workflows/${WORKFLOW}/runs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ runId, input: anOrder(runId) }),
          dispatcher: agent,
        });
        const body = (await response.body.json()) as { runId?: unknown };
        if (response.statusCode !== 201) return `start ${runId}: HTTP ${response.statusCode} ${JSON.stringify(body).slice(0, 200)}`;
        if (body.runId !== runId) return `start ${runId}: the answer names run ${String(body.runId)}`;
        return undefined;
      };
      const note = (problem: string | undefined) => {
        if (problem !== undefined && problems.length < 10) problems.push(problem);
        return problem === undefined;
      };

      // Warm-up: connections opened, the server's routes and the engine's paths compiled.
      await drive({
        runs: plan.httpWarmup,
        concurrency: plan.httpClients,
        runOne: async (i) => note(await startRun(`http-w-${i}`)),
        onProgress: (done) => progress("warm-up", done, plan.httpWarmup),
      });
      const driven = await drive({
        runs: plan.httpStarts,
        concurrency: plan.httpClients,
        runOne: async (i) => note(await startRun(`http-m-${i}`)),
        onProgress: (done) => progress("starting", done, plan.httpStarts),
      });
      const accepted = driven.results.filter(Boolean).length;
      const total = plan.httpWarmup + plan.httpStarts;

      // Every started run is in the store and, given time, completed.
      probe = new StoreProbe(server.dbPath);
      const p = probe;
      let terminal = 0;
      const allTerminal = await pollUntil(
        () => {
          terminal = p.count(TERMINAL);
          progress("finishing", terminal, total);
          return terminal >= total;
        },
        50,
        5 * 60_000,
      );
      const byStatus = probe.countByStatus();
      const rows = Object.values(byStatus).reduce((a, b) => a + b, 0);
      if (accepted !== plan.httpStarts) problems.push(`${plan.httpStarts - accepted} of ${plan.httpStarts} starts were refused`);
      if (rows !== total) problems.push(`${rows} runs in the store, ${total} were started`);
      if (!allTerminal) problems.push(`only ${terminal} of ${total} runs terminal 5 minutes after the last start`);
      if (byStatus.completed !== total) problems.push(`runs by status: ${JSON.stringify(byStatus)}, expected ${total} completed`);
      const steps = probe.countEntries("step.completed");
      if (steps !== total * STEPS_PER_RUN) problems.push(`journal has ${steps} step completions, expected ${total * STEPS_PER_RUN}`);

      return {
        id: this.id,
        title: this.title,
        status: "measured",
        values: [
          { label: `runs started (${plan.httpClients} client loops, keep-alive, after ${plan.httpWarmup} warm-up starts)`, value: plan.httpStarts, unit: "runs" },
          { label: "starts per second", value: plan.httpStarts / (driven.elapsedMs / 1000), unit: "runs/s" },
          { label: "start request p50", value: driven.latencyMs.p50, unit: "ms" },
          { label: "start request p95", value: driven.latencyMs.p95, unit: "ms" },
          { label: "start request p99", value: driven.latencyMs.p99, unit: "ms" },
          { label: "runs completed, warm-up included (all three steps), checked in the store", value: byStatus.completed ?? 0, unit: "runs" },
        ],
        problems,
      };
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
      return { id: this.id, title: this.title, status: "measured", values: [], problems };
    } finally {
      probe?.close();
      await agent.close().catch(() => undefined);
      await server.close();
      problems.push(...server.problems);
    }
  },
};
