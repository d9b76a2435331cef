import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { QUICK_PLAN } from "../../bench/plan.js";
import { SCALE_FIGURES } from "../../bench/scale/index.js";
import { POSTGRES_SETUP_TIMEOUT_MS, postgresSkipReason, postgresUrl } from "../support/postgres.js";

/**
 * Keeps the bench working: `bench/main.ts --quick` runs every code path at tiny sizes, exits 0
 * only if every run ended as the workload predicts, and writes a JSON file holding every figure.
 * Nothing here looks at a figure's value: the machines are shared and noisy.
 */

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The quick plan takes under a minute alone; a loaded machine running other tests is slower. */
const BENCH_TIMEOUT_MS = 5 * 60_000;

const dir = mkdtempSync(join(tmpdir(), "baton-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface BenchJson {
  plan: { targets: string[]; variants: string[]; loads: Array<{ runs: number; concurrency: number }> };
  w1: { summaries: Array<{ target: string; variant: string; runs: number; concurrency: number; problems: number; figures: Record<string, unknown>; serverUnavailable?: string }> };
  scale: Array<{ id: string; status: string; values?: unknown[]; problems?: string[] }>;
  problems: string[];
}

function runQuickBench(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/main.ts", "--quick", ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), BENCH_TIMEOUT_MS);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("npm run bench -- --quick", () => {
  it(
    "exits 0 and writes every W1 case and every W2 figure to its JSON file",
    async () => {
      // PostgreSQL as the other tests find it; under BATON_SKIP_POSTGRES=1 the target is n/a.
      const skip = postgresSkipReason();
      const args = ["--json", join(dir, "quick.json")];
      const env: NodeJS.ProcessEnv = {};
      if (skip !== undefined) args.push("--no-postgres");
      else env.BATON_BENCH_POSTGRES_URL = await postgresUrl();

      const { code, output } = await runQuickBench(args, env);
      expect(code, output.slice(-4000)).toBe(0);

      const json = JSON.parse(readFileSync(join(dir, "quick.json"), "utf8")) as BenchJson;
      expect(json.problems).toEqual([]);
      const targets = QUICK_PLAN.targets.filter((t) => !(t === "postgres" && skip !== undefined));
      for (const variant of QUICK_PLAN.variants) {
        for (const load of QUICK_PLAN.loads) {
          for (const target of targets) {
            const summary = json.w1.summaries.find(
              (s) => s.target === target && s.variant === variant && s.runs === load.runs && s.concurrency === load.concurrency,
            );
            expect(summary, `${variant} ${target} N=${load.runs} C=${load.concurrency}`).toBeDefined();
            expect(summary!.problems).toBe(0);
            expect(Object.keys(summary!.figures)).toEqual(expect.arrayContaining(["runsPerSec", "p50Ms", "cpuUsPerRun", "peakRssMiB"]));
            // The server's processes are measured where /proc shows them, or the summary says why not.
            if (target === "postgres") expect(summary!.figures.serverRssMiB !== undefined || summary!.serverUnavailable !== undefined).toBe(true);
          }
        }
      }
      for (const figure of SCALE_FIGURES) {
        const result = json.scale.find((s) => s.id === figure.id);
        expect(result?.status, figure.id).toBe("measured");
        expect(result?.problems, figure.id).toEqual([]);
        expect(result?.values?.length, figure.id).toBeGreaterThan(0);
      }
    },
    POSTGRES_SETUP_TIMEOUT_MS + BENCH_TIMEOUT_MS,
  );
});
