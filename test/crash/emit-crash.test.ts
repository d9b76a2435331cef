import { spawn } from "node:child_process";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDbUrl } from "../support/temp-db.js";

const CHILD = join(import.meta.dirname, "emit-child.ts");

function runChild(
  dbPath: string,
  killAt: number,
): Promise<{ signal: NodeJS.Signals | null; outputs?: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, dbPath, String(killAt)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (_code, signal) => {
      const done = /^DONE (.*)$/m.exec(out);
      resolve({
        signal,
        ...(done?.[1] ? { outputs: JSON.parse(done[1]) as Record<string, unknown> } : {}),
      });
    });
  });
}

function userEvents(dbPath: string): Array<{ event_key: string; run_id: string }> {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db
      .prepare(
        "SELECT event_key, run_id FROM events WHERE event_key IS NOT NULL ORDER BY event_key",
      )
      .all() as Array<{ event_key: string; run_id: string }>;
  } finally {
    db.close();
  }
}

describe("ctx.emit across a crash", () => {
  const cleanups: Array<() => void> = [];
  afterAll(() => cleanups.splice(0).forEach((c) => c()));
  // One uninterrupted run to compare every crashed one with.
  const reference = tempDbUrl("reference");
  cleanups.push(reference.cleanup);
  let expected: Record<string, unknown> | undefined;
  beforeAll(async () => {
    expected = (await runChild(reference.path, 0)).outputs;
  }, 60_000);

  it.each([3, 8])(
    "killed after journal commit %i: the restarted engine emits each event once and triggers each run once",
    async (killAt) => {
      const crashed = tempDbUrl("crashed");
      cleanups.push(crashed.cleanup);
      expect(expected).toBeDefined();
      expect((await runChild(crashed.path, killAt)).signal).toBe("SIGKILL");
      const resumed = await runChild(crashed.path, 0);
      expect(resumed.outputs).toEqual(expected);
      // Nine events (three runs, three emits each), ids {runId}:{seq}, each with one counter run.
      const events = userEvents(crashed.path);
      expect(events).toEqual(userEvents(reference.path));
      expect(events).toHaveLength(9);
      expect(Object.keys(resumed.outputs!).filter((k) => k.startsWith("work.done:"))).toHaveLength(
        9,
      );
    },
    60_000,
  );
});
