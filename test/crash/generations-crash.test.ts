import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { tempDbUrl } from "../support/temp-db.js";

/**
 * ctx.continueAsNew against a real engine process killed with SIGKILL mid-loop.
 *
 * generations-child.ts loops 120 times through a step, continuing as new every 10. This test kills
 * it once in each of a few generations chosen at random (a seeded schedule, at a random moment
 * within the generation), and after each kill reads the store as the dead process left
 * it: the run is in exactly one generation, its input is that generation's state and its journal
 * holds that generation only. A last incarnation then finishes the run, and the effects of every
 * step show each iteration executed with its own value (at least once, never with another's).
 */

const ITERATIONS = 120;
const PER_GENERATION = 10;
/** Generations to kill in (one kill each, at a random moment inside it): spread over the loop. */
const KILL_GENERATIONS = [
  [2, 3],
  [4, 6],
  [7, 9],
  [10, 11],
] as const;
const KILL_EXTRA_MS = 15;
const READY_TIMEOUT_MS = 20_000;
const FINAL_TIMEOUT_MS = 60_000;

const CHILD = fileURLToPath(new URL("./generations-child.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** 0 + 1 + … + (n - 1): the state of a run that did n iterations. */
function sumBelow(n: number): number {
  return n === 0 ? 0 : (n * (n - 1)) / 2;
}

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
  /** SIGKILL once the run has reached this generation, `extraMs` later (undefined: let it end). */
  killAt: { generation: number; extraMs: number } | undefined,
  killAtGenerationCommit?: number,
): Promise<Incarnation> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        CHILD,
        dbPath,
        effectsPath,
        String(incarnation),
        ...(killAtGenerationCommit === undefined ? [] : [String(killAtGenerationCommit)]),
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    let watching = false;
    // Polls the run's row (every 5 ms, bounded by the incarnation's deadline) to kill mid-loop in
    // the chosen generation: a fixed delay would land anywhere, or after the run ended.
    const watch = (): void => {
      if (!killAt || watching) return;
      watching = true;
      const poll = (): void => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const run = readRun(dbPath);
        if (run && run.generation >= killAt.generation) {
          killTimer = setTimeout(() => {
            killed = proc.kill("SIGKILL");
          }, killAt.extraMs);
          return;
        }
        killTimer = setTimeout(poll, 5);
      };
      poll();
    };
    const deadline = setTimeout(
      () => {
        proc.kill("SIGKILL");
        reject(new Error(`incarnation ${incarnation} timed out; stderr:\n${stderr}`));
      },
      killAt === undefined ? FINAL_TIMEOUT_MS : READY_TIMEOUT_MS,
    );
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const wasReady = stdout.includes("READY\n");
      stdout += chunk;
      if (!wasReady && stdout.includes("READY\n")) watch();
    });
    proc.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    proc.on("error", reject);
    proc.on("close", (_code, signal) => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      resolve({ killed: killed || signal === "SIGKILL", stdout, stderr });
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

  it("killed right after a generation's end committed, resumes the next generation from its start", async () => {
    const db = tempDbUrl("baton");
    cleanup = db.cleanup;
    const dbPath = db.url.slice("sqlite:".length);
    const effectsPath = join(db.dir, "effects.db");
    // The child kills itself at its 3rd generation commit: generation 4 is durable, not started.
    const killed = await runIncarnation(dbPath, effectsPath, 0, undefined, 3);
    expect(killed.killed, killed.stderr).toBe(true);
    const run = readRun(dbPath)!;
    expect(run).toEqual({ generation: 4, input: { i: 30, sum: 435 }, seqs: [] });
    const final = await runIncarnation(dbPath, effectsPath, 1, undefined);
    const done = /DONE (.*)\n/.exec(final.stdout);
    expect(done, final.stderr).not.toBeNull();
    expect(JSON.parse(done![1]!)).toEqual({
      output: { i: ITERATIONS, sum: (ITERATIONS * (ITERATIONS - 1)) / 2 },
      generation: ITERATIONS / PER_GENERATION,
    });
    // Generation 4 began at iteration 30: nothing of generations 1–3 ran again.
    const effects = new Database(effectsPath, { readonly: true });
    const again = effects
      .prepare("SELECT i FROM effects WHERE incarnation = 1 AND i < 30")
      .all() as Array<{ i: number }>;
    effects.close();
    expect(again).toEqual([]);
  }, 120_000);

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
      for (const [k, [low, high]] of KILL_GENERATIONS.entries()) {
        const generation = low + Math.floor(random() * (high - low + 1));
        const extraMs = Math.floor(random() * KILL_EXTRA_MS);
        const result = await runIncarnation(dbPath, effectsPath, k, { generation, extraMs });
        expect(result.killed, `seed ${seed}: ${result.stderr}`).toBe(true);
        const run = readRun(dbPath);
        if (!run) continue;
        seenGenerations.push(run.generation);
        // One generation, whole: its input is its own state, its journal its own seqs only.
        const firstSeq = (run.generation - 1) * PER_GENERATION + 1;
        expect(run.input.i).toBe((run.generation - 1) * PER_GENERATION);
        expect(run.input.sum).toEqual(sumBelow(run.input.i));
        for (const seq of run.seqs) {
          expect(seq).toBeGreaterThanOrEqual(firstSeq);
          expect(seq).toBeLessThan(firstSeq + PER_GENERATION);
        }
      }
      const final = await runIncarnation(dbPath, effectsPath, KILL_GENERATIONS.length, undefined);
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
      // Every kill landed mid-loop, in the generation it aimed at or a later one.
      expect(seenGenerations, `seed ${seed}`).toHaveLength(KILL_GENERATIONS.length);
      seenGenerations.forEach((g, k) => expect(g).toBeGreaterThanOrEqual(KILL_GENERATIONS[k]![0]));
      passed = true;
    } catch (e) {
      console.log(`generations crash test failed with CRASH_SEED=${seed}`);
      throw e;
    }
  }, 180_000);
});
