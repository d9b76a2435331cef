import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exited, forkTs, nextMessage } from "../child.js";
import type { ScaleFigure, ScaleResult } from "./figure.js";
import { StoreProbe, pollUntil } from "./store-probe.js";

export interface WaitingMemory {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  /** Runs the engine holds in memory; the rest wait in the store (cacheSize, 2000 by default). */
  residentRuns: number;
  /** Kernel peak RSS of the engine process so far (the start-up pile-up included). */
  peakRssBytes: number;
  hasGc: boolean;
}

export type WaitingMessage =
  | { type: "baseline"; memory: WaitingMemory }
  | { type: "progress"; started: number }
  | { type: "started"; ms: number }
  | { type: "memory"; memory: WaitingMemory }
  | { type: "problem"; line: string }
  | { type: "measure" }
  | { type: "close" };

const MiB = 1024 * 1024;

/**
 * W2: memory of the engine with many runs waiting on a signal. The engine runs in a child
 * process of its own (with --expose-gc), so the RSS is that process's alone; this process
 * watches the store read-only until every run is `waiting`, then asks the child to measure.
 */
export const waitingRuns: ScaleFigure = {
  id: "waiting-runs",
  title: "Runs waiting on a signal: engine memory",
  async run(plan, progress): Promise<ScaleResult> {
    const runs = plan.waitingRuns;
    const dir = mkdtempSync(join(tmpdir(), "baton-bench-wait-"));
    const path = join(dir, "wait.db");
    const problems: string[] = [];
    const child = forkTs("./scale/waiting-runs-child.ts", [path, String(runs), String(plan.startConcurrency)], { nodeFlags: ["--expose-gc"] });
    child.on("message", (m: WaitingMessage) => {
      if (m.type === "problem" && problems.length < 5) problems.push(`engine logged an error: ${m.line}`);
      if (m.type === "progress") progress("starting", m.started, runs);
    });
    let probe: StoreProbe | undefined;
    try {
      const baseline = await nextMessage(child, (m) => ((m as WaitingMessage).type === "baseline" ? (m as { memory: WaitingMemory }).memory : undefined), 60_000, "a baseline");
      const startedMs = await nextMessage(child, (m) => ((m as WaitingMessage).type === "started" ? (m as { ms: number }).ms : undefined), 30 * 60_000, "started");
      probe = new StoreProbe(path);
      const p = probe;
      let waiting = 0;
      const allWaiting = await pollUntil(
        () => {
          waiting = p.count(["waiting"]);
          progress("settling", waiting, runs);
          return waiting === runs;
        },
        100,
        10 * 60_000,
      );
      if (!allWaiting) problems.push(`only ${waiting} of ${runs} runs reached waiting: ${JSON.stringify(p.countByStatus())}`);
      child.send({ type: "measure" } satisfies WaitingMessage);
      const memory = await nextMessage(child, (m) => ((m as WaitingMessage).type === "memory" ? (m as { memory: WaitingMemory }).memory : undefined), 60_000, "memory");
      child.send({ type: "close" } satisfies WaitingMessage);
      const exit = await exited(child);
      if (exit.code !== 0) problems.push(`the engine process exited ${exit.signal ?? `with code ${exit.code}`}`);
      if (!memory.hasGc) problems.push("global.gc was not available: memory measured without a full collection");
      return {
        id: this.id,
        title: this.title,
        status: "measured",
        values: [
          { label: `runs waiting on a signal`, value: waiting, unit: "runs" },
          { label: "RSS with all of them waiting (after GC)", value: memory.rssBytes / MiB, unit: "MiB" },
          { label: "heap used (after GC)", value: memory.heapUsedBytes / MiB, unit: "MiB" },
          { label: "peak RSS while starting them (maxRSS)", value: memory.peakRssBytes / MiB, unit: "MiB" },
          { label: "RSS of the same engine with no runs", value: baseline.rssBytes / MiB, unit: "MiB" },
          { label: "RSS added per waiting run", value: (memory.rssBytes - baseline.rssBytes) / runs, unit: "bytes" },
          { label: "heap added per waiting run", value: (memory.heapUsedBytes - baseline.heapUsedBytes) / runs, unit: "bytes" },
          { label: "runs kept in memory (the rest evicted)", value: memory.residentRuns, unit: "runs" },
          { label: "starting them all (start calls only)", value: runs / (startedMs / 1000), unit: "runs/s" },
        ],
        problems,
      };
    } catch (e) {
      child.kill("SIGKILL");
      problems.push(e instanceof Error ? e.message : String(e));
      return { id: this.id, title: this.title, status: "measured", values: [], problems };
    } finally {
      probe?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
