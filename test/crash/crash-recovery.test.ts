import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { tempDbUrl } from "../support/temp-db.js";

/**
 * Crash recovery against a real engine process killed with SIGKILL at random moments.
 *
 * crash-child.ts opens Baton on one SQLite file and drives RUN_COUNT runs that step, sleep,
 * call a service and (one in four) fail and compensate. Every step and command body records
 * its execution, tagged with the child's incarnation number, in a separate SQLite "effects"
 * file. This test kills the child KILLS times at random moments, then lets a last incarnation
 * finish, and checks the journal against the effects: every run ended as predicted, none was
 * lost or duplicated, and no step whose completion was journaled ever executed again.
 */

const RUN_COUNT = 400;
/** Runs each incarnation starts at a time (resumed runs come on top). */
const CONCURRENCY = 6;
const KILLS = 12;
const KILL_DELAY_MS = { min: 150, max: 700 };
const READY_TIMEOUT_MS = 20_000;
const FINAL_TIMEOUT_MS = 60_000;

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Must match `inputFor` in crash-child.ts. */
function shipFails(i: number): boolean {
  return i % 4 === 3;
}

const TERMINAL_ENTRY_TYPES = new Set([
  "run.completed",
  "run.compensated",
  "run.failed",
  "run.cancelled",
]);

interface IncarnationResult {
  incarnation: number;
  /** The child died of our SIGKILL (not on its own). */
  killed: boolean;
  allTerminal: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

interface RunRow {
  run_id: string;
  workflow: string;
  status: string;
  input: string | null;
  output: string | null;
  error: string | null;
  journal_length: number;
}

interface JournalRow {
  run_id: string;
  position: number;
  seq: number | null;
  type: string;
  name: string | null;
  data: string | null;
}

interface EffectRow {
  idempotency_key: string;
  step_name: string;
  incarnation: number;
  output_json: string;
}

interface CompletionData {
  output?: { incarnation?: number } & Record<string, unknown>;
  error?: { code: string; details?: { incarnation?: number } };
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

describe("crash recovery", () => {
  let child: ChildProcess | undefined;
  let cleanup: (() => void) | undefined;

  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    child = undefined;
    cleanup?.();
    cleanup = undefined;
  });

  /** Runs one incarnation; kills it `killAfterMs` after it printed READY, or lets it finish. */
  function runIncarnation(
    dbPath: string,
    effectsPath: string,
    incarnation: number,
    killAfterMs: number | undefined,
  ): Promise<IncarnationResult> {
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
          String(RUN_COUNT),
          String(CONCURRENCY),
        ],
        { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      child = proc;
      let stdout = "";
      let stderr = "";
      let sentKill = false;
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      const kill = (): void => {
        sentKill = true;
        proc.kill("SIGKILL");
      };
      const deadline = setTimeout(
        () => {
          kill();
          reject(
            new Error(
              `incarnation ${incarnation} did not ${stdout.includes("READY") ? "finish" : "start"} in time; stderr:\n${stderr}`,
            ),
          );
        },
        killAfterMs === undefined ? FINAL_TIMEOUT_MS : READY_TIMEOUT_MS,
      );
      proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        const wasReady = stdout.includes("READY\n");
        stdout += chunk;
        if (!wasReady && stdout.includes("READY\n") && killAfterMs !== undefined)
          killTimer = setTimeout(kill, killAfterMs);
      });
      proc.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      proc.on("error", reject);
      proc.on("close", (code, signal) => {
        clearTimeout(deadline);
        clearTimeout(killTimer);
        resolve({
          incarnation,
          killed: sentKill && signal === "SIGKILL",
          allTerminal: stdout.includes("ALL_TERMINAL\n"),
          code,
          signal,
          stderr,
        });
      });
    });
  }

  it(`every one of ${RUN_COUNT} runs ends as predicted after ${KILLS} SIGKILLs, and no journaled step executes again`, async () => {
    const started = Date.now();
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 2 ** 31);
    const random = mulberry32(seed);
    const db = tempDbUrl("baton");
    const effectsPath = join(db.dir, "effects.db");
    let passed = false;
    cleanup = () => {
      if (passed) db.cleanup();
      else console.log(`crash test files kept in ${db.dir} (CRASH_SEED=${seed})`);
    };

    // ─── Kill the engine at random moments, then let it finish ───────────────────────
    const incarnations: IncarnationResult[] = [];
    for (let k = 0; k < KILLS; k++) {
      const delay =
        KILL_DELAY_MS.min + Math.floor(random() * (KILL_DELAY_MS.max - KILL_DELAY_MS.min));
      const result = await runIncarnation(db.path, effectsPath, k, delay);
      incarnations.push(result);
      // Either our SIGKILL ended it, or it finished cleanly on its own; it never dies by itself.
      if (!result.killed && !(result.code === 0 && result.allTerminal)) {
        throw new Error(
          `incarnation ${k} exited on its own (code ${result.code}, signal ${result.signal}); stderr:\n${result.stderr}`,
        );
      }
    }
    const last = await runIncarnation(db.path, effectsPath, KILLS, undefined);
    incarnations.push(last);
    expect(last, `final incarnation stderr:\n${last.stderr}`).toMatchObject({
      code: 0,
      allTerminal: true,
    });

    const killedMidWork = incarnations.filter((r) => r.killed && !r.allTerminal).length;
    expect(killedMidWork, "kills that landed before the work was done").toBeGreaterThanOrEqual(3);

    // ─── Read what the engine and the services durably recorded ──────────────────────
    const main = new Database(db.path, { readonly: true, fileMustExist: true });
    const effectsDb = new Database(effectsPath, { readonly: true, fileMustExist: true });
    const runs = main
      .prepare("SELECT run_id, workflow, status, input, output, error, journal_length FROM runs")
      .all() as RunRow[];
    const journal = main
      .prepare(
        "SELECT run_id, position, seq, type, name, data FROM journal ORDER BY run_id, position",
      )
      .all() as JournalRow[];
    const effects = effectsDb
      .prepare(
        "SELECT idempotency_key, step_name, incarnation, output_json FROM effects ORDER BY id",
      )
      .all() as EffectRow[];
    main.close();
    effectsDb.close();

    const journalByRun = new Map<string, JournalRow[]>();
    for (const entry of journal) {
      const list = journalByRun.get(entry.run_id) ?? [];
      list.push(entry);
      journalByRun.set(entry.run_id, list);
    }
    const effectsByKey = new Map<string, EffectRow[]>();
    for (const effect of effects) {
      const list = effectsByKey.get(effect.idempotency_key) ?? [];
      list.push(effect);
      effectsByKey.set(effect.idempotency_key, list);
    }

    // 1. No run lost or duplicated: exactly crash-0 … crash-{N-1}, no stray journal.
    const expectedIds = Array.from({ length: RUN_COUNT }, (_, i) => `crash-${i}`);
    expect(runs.map((r) => r.run_id).sort()).toEqual([...expectedIds].sort());
    expect([...journalByRun.keys()].sort()).toEqual([...expectedIds].sort());

    const problems: string[] = [];
    const journaledKeys = new Set<string>();
    let stepCompletions = 0;
    let runsSpanningIncarnations = 0;
    let executedAfterJournaled = 0;
    let runsFinishedByLast = 0;

    for (const run of runs) {
      const i = Number(run.run_id.slice("crash-".length));
      const fails = shipFails(i);
      const entries = journalByRun.get(run.run_id) ?? [];
      const where = run.run_id;

      // 2. Every run terminal, and the outcome its input predicts.
      const input = JSON.parse(run.input ?? "null") as { i?: number; shipFails?: boolean } | null;
      if (run.workflow !== "crashy" || input?.i !== i || input.shipFails !== fails) {
        problems.push(
          `${where}: unexpected row ${JSON.stringify({ workflow: run.workflow, input })}`,
        );
      }
      const expectedStatus = fails ? "compensated" : "completed";
      if (run.status !== expectedStatus)
        problems.push(
          `${where}: status ${run.status}, expected ${expectedStatus} (error ${run.error})`,
        );

      // 3. One contiguous journal per run, started once, ended once, at its end.
      const positions = entries.map((e) => e.position);
      if (positions.some((p, index) => p !== index) || entries.length !== run.journal_length) {
        problems.push(
          `${where}: journal positions ${positions.join(",")} with journal_length ${run.journal_length}`,
        );
      }
      if (
        entries[0]?.type !== "run.started" ||
        entries.filter((e) => e.type === "run.started").length !== 1
      ) {
        problems.push(`${where}: journal does not start with exactly one run.started`);
      }
      const terminalEntries = entries.filter((e) => TERMINAL_ENTRY_TYPES.has(e.type));
      if (terminalEntries.length !== 1 || entries[entries.length - 1] !== terminalEntries[0]) {
        problems.push(
          `${where}: terminal entries ${terminalEntries.map((e) => e.type).join(",")} (must be one, last)`,
        );
      }

      // Each seq is one operation with at most one completion.
      const bySeq = new Map<number, JournalRow[]>();
      for (const entry of entries) {
        if (entry.seq === null) continue;
        const list = bySeq.get(entry.seq) ?? [];
        list.push(entry);
        bySeq.set(entry.seq, list);
      }
      for (const [seq, list] of bySeq) {
        const kinds = new Set(list.map((e) => `${e.type.split(".")[0]} ${e.name}`));
        const completions = list.filter((e) => /\.(completed|failed|received)$/.test(e.type));
        if (kinds.size !== 1 || completions.length > 1) {
          problems.push(
            `${where} seq ${seq}: entries ${list.map((e) => `${e.type}:${e.name}`).join(",")}`,
          );
        }
      }

      // The operations the workflow asked for, in order: steps, calls, sleeps, compensations.
      const stepEntries = entries.filter(
        (e) => e.seq !== null && /^(step|call)\.(completed|failed)$/.test(e.type),
      );
      const shape = stepEntries.map((e) => `${e.type}:${e.name}`);
      const expectedShape = fails
        ? [
            "step.completed:reserve",
            "call.completed:ledger.charge",
            "step.failed:ship",
            "call.completed:ledger.refund",
            "call.completed:ledger.release",
          ]
        : ["step.completed:reserve", "call.completed:ledger.charge", "step.completed:ship"];
      if (shape.join() !== expectedShape.join())
        problems.push(`${where}: step completions ${shape.join(",")}`);
      const sleeps = entries.filter((e) => e.type === "sleep.completed").length;
      if (sleeps !== 2) problems.push(`${where}: ${sleeps} sleep.completed entries, expected 2`);

      // 4. No completed step executed again; each completion matches its one execution.
      const incarnationsOfRun = new Set<number>();
      const outputs: unknown[] = [];
      let lastCompletedIn = -1;
      for (const entry of stepEntries) {
        stepCompletions++;
        const key = `${run.run_id}:${entry.seq}`;
        journaledKeys.add(key);
        const data = JSON.parse(entry.data ?? "{}") as CompletionData;
        const completedIn = entry.type.endsWith(".completed")
          ? data.output?.incarnation
          : data.error?.details?.incarnation;
        outputs.push(data.output);
        if (typeof completedIn === "number")
          lastCompletedIn = Math.max(lastCompletedIn, completedIn);
        const executions = effectsByKey.get(key) ?? [];
        for (const e of executions) incarnationsOfRun.add(e.incarnation);
        if (typeof completedIn !== "number") {
          problems.push(
            `${key} ${entry.name}: journaled completion carries no incarnation: ${entry.data}`,
          );
          continue;
        }
        if (executions.length === 0)
          problems.push(`${key} ${entry.name}: journaled, but never executed`);
        const wrongName = executions.filter((e) => e.step_name !== entry.name);
        if (wrongName.length)
          problems.push(
            `${key}: journaled as ${entry.name}, executed as ${wrongName[0]!.step_name}`,
          );
        const inCompletingIncarnation = executions.filter((e) => e.incarnation === completedIn);
        if (inCompletingIncarnation.length !== 1) {
          problems.push(
            `${key} ${entry.name}: ${inCompletingIncarnation.length} executions in incarnation ${completedIn}, which journaled it`,
          );
        }
        const after = executions.filter((e) => e.incarnation > completedIn);
        if (after.length) {
          executedAfterJournaled += after.length;
          problems.push(
            `${key} ${entry.name}: completed in incarnation ${completedIn}, executed again in ${after.map((e) => e.incarnation).join(",")}`,
          );
        }
        const executed = inCompletingIncarnation[0];
        if (
          executed &&
          entry.type.endsWith(".completed") &&
          JSON.stringify(JSON.parse(executed.output_json)) !== JSON.stringify(data.output)
        ) {
          problems.push(
            `${key} ${entry.name}: journaled output ${JSON.stringify(data.output)} is not what executed: ${executed.output_json}`,
          );
        }
      }
      if (incarnationsOfRun.size > 1) runsSpanningIncarnations++;
      if (lastCompletedIn === KILLS) runsFinishedByLast++;

      if (fails) {
        // Compensations ran in reverse order, each naming the step it undoes.
        const compensates = stepEntries
          .slice(3)
          .map((e) => (JSON.parse(e.data ?? "{}") as { compensates?: number }).compensates);
        const undone = [stepEntries[1]?.seq, stepEntries[0]?.seq];
        if (JSON.stringify(compensates) !== JSON.stringify(undone)) {
          problems.push(
            `${where}: compensations undo seqs ${compensates.join(",")}, expected ${undone.join(",")}`,
          );
        }
        const error = JSON.parse(run.error ?? "null") as { code?: string } | null;
        if (error?.code !== "NO_CARRIER")
          problems.push(`${where}: compensated with error ${run.error}`);
      } else {
        const expectedOutput = {
          reservation: outputs[0],
          payment: outputs[1],
          shipment: outputs[2],
        };
        if (JSON.stringify(JSON.parse(run.output ?? "null")) !== JSON.stringify(expectedOutput)) {
          problems.push(
            `${where}: output ${run.output} is not built from the journaled step outputs`,
          );
        }
      }
    }

    // Every execution belongs to a step the journal completed: no stray or lost work.
    for (const key of effectsByKey.keys())
      if (!journaledKeys.has(key)) problems.push(`${key}: executed, but no journaled completion`);

    const reexecutedKeys = [...effectsByKey.values()].filter((list) => list.length > 1);
    const extraExecutions = reexecutedKeys.reduce((n, list) => n + list.length - 1, 0);
    console.log(
      `crash recovery (CRASH_SEED=${seed}): ${RUN_COUNT} runs, ${incarnations.length} incarnations, ` +
        `${incarnations.filter((r) => r.killed).length} SIGKILLs (${killedMidWork} mid-work), ` +
        `${runsSpanningIncarnations} runs resumed across incarnations, ${runsFinishedByLast} finished by the last, ${stepCompletions} journaled step/call completions, ` +
        `${effects.length} executions, ${reexecutedKeys.length} steps re-executed after a crash (${extraExecutions} extra executions, ` +
        `${executedAfterJournaled} after their completion was journaled), ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );

    expect(problems.slice(0, 20), `${problems.length} problems`).toEqual([]);
    expect(runsSpanningIncarnations, "runs that a later incarnation resumed").toBeGreaterThan(0);
    passed = true;
  }, 120_000);
});
