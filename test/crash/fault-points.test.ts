import { spawn } from "node:child_process";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { tempDbUrl } from "../support/temp-db.js";

const CHILD = join(import.meta.dirname, "fault-child.ts");

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  outcomes?: Record<string, unknown>;
}

function runChild(
  dbPath: string,
  effectsPath: string,
  point: string,
  killAt: number,
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", CHILD, dbPath, effectsPath, point, String(killAt)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const done = /^DONE (.*)$/m.exec(out);
      resolve({
        code,
        signal,
        ...(done?.[1] ? { outcomes: JSON.parse(done[1]) as Record<string, unknown> } : {}),
      });
    });
  });
}

function executions(effectsPath: string): { perKey: Map<string, number>; effects: number } {
  const db = new Database(effectsPath, { readonly: true });
  try {
    const perKey = new Map<string, number>();
    for (const row of db
      .prepare("SELECT key, COUNT(*) AS n FROM executions GROUP BY key")
      .all() as Array<{ key: string; n: number }>) {
      perKey.set(row.key, row.n);
    }
    const effects = (db.prepare("SELECT COUNT(*) AS n FROM effects").get() as { n: number }).n;
    return { perKey, effects };
  } finally {
    db.close();
  }
}

/** Where each fault point kills, and how many commands may legitimately run twice because of it. */
const FAULTS = [
  // A commit of a run's journal is durable: nothing before it runs again.
  { point: "after-journal-commit", killAt: 5, reExecutions: 0 },
  // The command took effect but its reply was not recorded: it is sent again, once, same key.
  { point: "after-command-sent", killAt: 4, reExecutions: 1 },
  { point: "after-reply-recorded", killAt: 3, reExecutions: 0 },
  // Killed as the second compensation begins, in the same turn the first one's reply arrived:
  // that reply is not durable yet (results reach the workflow before their commit; nothing
  // leaves before it), so the first compensation's command is sent again, once, same key.
  { point: "during-compensation", killAt: 2, reExecutions: 1 },
] as const;

describe("crash at each named fault point", () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  it.each(FAULTS)(
    "killed $point: the restarted engine reaches the same result and no command runs twice in effect",
    async ({ point, killAt, reExecutions }) => {
      const reference = tempDbUrl("reference");
      const crashed = tempDbUrl("crashed");
      cleanups.push(reference.cleanup, crashed.cleanup);
      const referenceEffects = join(reference.dir, "effects.db");
      const crashedEffects = join(crashed.dir, "effects.db");

      const expected = await runChild(reference.path, referenceEffects, "none", 0);
      expect(expected.code).toBe(0);

      const killed = await runChild(crashed.path, crashedEffects, point, killAt);
      expect(killed.signal).toBe("SIGKILL");
      const resumed = await runChild(crashed.path, crashedEffects, "none", 0);
      expect(resumed.code).toBe(0);
      expect(resumed.outcomes).toEqual(expected.outcomes);

      const before = executions(referenceEffects);
      const after = executions(crashedEffects);
      // Exactly the same effects: every command took effect once, under the same idempotency keys.
      expect(after.effects).toBe(before.effects);
      expect([...after.perKey.keys()].sort()).toEqual([...before.perKey.keys()].sort());
      const repeated = [...after.perKey.values()].reduce((sum, n) => sum + (n - 1), 0);
      expect(repeated).toBe(reExecutions);
    },
    60_000,
  );
});
