import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { tempDbUrl } from "../support/temp-db.js";

/**
 * ctx.continueAsNew against a real engine process killed with SIGKILL mid-loop.
 *
 * generations-child.ts loops 200 times through a step, continuing as new every 10. This test kills
 * it KILLS times at random moments, and after each kill reads the store as the dead process left
 * it: the run is in exactly one generation, its input is that generation's state and its journal
 * holds that generation only. A last incarnation then finishes the run, and the effects of every
 * step show each iteration executed with its own value (at least once, never with another's).
 */

const ITERATIONS = 200;
const PER_GENERATION = 10;
const KILLS = 4;
const KILL_DELAY_MS = { min: 200, max: 600 };
const READY_TIMEOUT_MS = 20_000;
const FINAL_TIMEOUT_MS = 60_000;

const CHILD = fileURLToPath(new URL("./generations-child.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A small seeded PRNG, so a failing schedule of kills can be replayed with CRASH_SEED. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Incarnation {
  killed: boolean;
  stdout: string;
  stderr: string;
}

function runIncarnation(
  dbPath: string,
  effectsPath: string,
  incarnation: number,
  killAfterMs: number | undefined,
): Promise<Incarnation> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", CHILD, dbPath, effectsPath, String(incarnation)],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(
      () => {
        proc.kill("SIGKILL");
        reject(new Error(`incarnation ${incarnation} timed out; stderr:\n${stderr}`));
      },
      killAfterMs === undefined ? FINAL_TIMEOUT_MS : READY_TIMEOUT_MS,
    );
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const wasReady = stdout.includes("READY\n");
      stdout += chunk;
      if (!wasReady && stdout.includes("READY\n") && killAfterMs !== undefined)
        killTimer = setTimeout(() => {
          killed = proc.kill("SIGKILL");
        }, killAfterMs);
    });
    proc.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    proc.on("error", reject);
    proc.on("close", () => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      resolve({ killed, stdout, stderr });
    });
  });
}

/** The run as the store holds it: its generation, its input and its journal's seqs. */
function readRun(
  dbPath: string,
): { generation: number; input: { i: number; sum: number }; seqs: number[] } | undefined {
  const db = new Database(dbPath, { readonly: true });
  try {
    const row = db.prepare("SELECT generation, input FROM runs WHERE run_id = 'loop-1'").get() as
      { generation: number; input: string } | undefined;
    if (!row) return undefined;
    const seqs = (
      db
        .prepare("SELECT seq FROM journal WHERE run_id = 'loop-1' AND seq IS NOT NULL")
        .all() as Array<{ seq: number }>
    ).map((r) => r.seq);
    return {
      generation: row.generation,
      input: JSON.parse(row.input) as { i: number; sum: number },
      seqs,
    };
  } finally {
    db.close();
  }
}

describe("continueAsNew survives SIGKILL", () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it("resumes in the right generation with the right state after kills mid-loop", async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 2 ** 31);
    const random = mulberry32(seed);
    const db = tempDbUrl("baton");
    const dbPath = db.url.slice("sqlite:".length);
    const effectsPath = join(db.dir, "effects.db");
    let passed = false;
    cleanup = () => {
      if (passed) db.cleanup();
      else console.log(`generations crash test files kept in ${db.dir} (CRASH_SEED=${seed})`);
    };
    try {
      const seenGenerations: number[] = [];
      for (let k = 0; k < KILLS; k++) {
        const delay = KILL_DELAY_MS.min + random() * (KILL_DELAY_MS.max - KILL_DELAY_MS.min);
        const result = await runIncarnation(dbPath, effectsPath, k, Math.round(delay));
        if (!result.killed) break; // finished before its kill: the final check covers it
        const run = readRun(dbPath);
        if (!run) continue;
        seenGenerations.push(run.generation);
        // One generation, whole: its input is its own state, its journal its own seqs only.
        const firstSeq = (run.generation - 1) * PER_GENERATION + 1;
        expect(run.input.i).toBe((run.generation - 1) * PER_GENERATION);
        expect(run.input.sum).toBe((run.input.i * (run.input.i - 1)) / 2);
        for (const seq of run.seqs) {
          expect(seq).toBeGreaterThanOrEqual(firstSeq);
          expect(seq).toBeLessThan(firstSeq + PER_GENERATION);
        }
      }
      const final = await runIncarnation(dbPath, effectsPath, KILLS, undefined);
      const done = /DONE (.*)\n/.exec(final.stdout);
      expect(done, final.stderr).not.toBeNull();
      expect(JSON.parse(done![1]!)).toEqual({
        output: { i: ITERATIONS, sum: (ITERATIONS * (ITERATIONS - 1)) / 2 },
        generation: ITERATIONS / PER_GENERATION,
      });
      // Every iteration ran under its own idempotency key with its own value; none was skipped.
      const effects = new Database(effectsPath, { readonly: true });
      const rows = effects.prepare("SELECT idempotency_key, i FROM effects").all() as Array<{
        idempotency_key: string;
        i: number;
      }>;
      effects.close();
      for (const row of rows) expect(row.idempotency_key).toBe(`loop-1:${row.i + 1}`);
      expect(new Set(rows.map((r) => r.i)).size).toBe(ITERATIONS);
      // Kills landed mid-loop, in generations past the first (else the test proves little).
      expect(
        seenGenerations.some((g) => g > 1),
        `seed ${seed}`,
      ).toBe(true);
      passed = true;
    } catch (e) {
      console.log(`generations crash test failed with CRASH_SEED=${seed}`);
      throw e;
    }
  }, 180_000);
});
