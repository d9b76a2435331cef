/**
 * The SQLite nemesis: a second `baton server` started on the file a first one is serving. It must
 * be refused (STORE_LOCKED), and in any case never execute a run: every command execution is
 * written with the pid of the process that ran it.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ProcessGroup, REPO, eventually, freePort } from "../demo/harness/processes.js";
import { Random, chaosSeed } from "./harness/random.js";

const WORKFLOWS = join(REPO, "test", "chaos", "sqlite-workflows.ts");
const processes = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), "baton-chaos-sqlite-"));

afterAll(async () => {
  await processes.killAll();
  rmSync(dir, { recursive: true, force: true });
});

describe("chaos: two servers on one SQLite file", () => {
  it("a second server on the file in use is refused with STORE_LOCKED and executes no run", async () => {
    const seed = chaosSeed();
    const random = new Random(seed);
    console.log(`chaos sqlite: seed ${seed} (replay with BATON_CHAOS_SEED=${seed})`);
    const db = `sqlite:${join(dir, "baton.db")}`;
    const effects = join(dir, "effects.log");
    const env = { CHAOS_EFFECTS_FILE: effects };
    const serve = async (name: string) => {
      const port = await freePort();
      const p = processes.startBaton(
        name,
        ["server", "--db", db, "--port", String(port), "--workflows", WORKFLOWS],
        env,
      );
      return { p, url: `http://127.0.0.1:${port}` };
    };

    const first = await serve("first server");
    await first.p.waitForOutput(/Baton listening on/, 60_000);
    const runIds = Array.from({ length: 12 }, (_, i) => `tick-${seed}-${i}`);
    for (const runId of runIds) {
      const response = await fetch(`${first.url}/v1/workflows/tick/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ runId, input: { napMs: random.int(500, 3_000) } }),
      });
      expect(response.status, await response.text()).toBe(201);
    }

    // The second server, while the first has runs asleep and runs executing.
    const second = await serve("second server");
    const outcome = await Promise.race([
      second.p.exited.then((exit) => ({ exited: exit })),
      second.p.waitForOutput(/Baton listening on/, 60_000).then(() => ({ serving: true }) as const),
    ]);

    // Every run ends, whatever the second server did.
    const ended = await eventually(
      "every tick run terminal",
      async () => {
        const statuses = await Promise.all(
          runIds.map(async (id) => {
            const r = await fetch(`${first.url}/v1/runs/${id}`);
            return ((await r.json()) as { status: string }).status;
          }),
        );
        return (
          statuses.every((s) => ["completed", "failed", "compensated", "cancelled"].includes(s)) &&
          statuses
        );
      },
      60_000,
      200,
    );
    const lines = existsSync(effects) ? readFileSync(effects, "utf8").trim().split("\n") : [];
    const bySecond = lines.filter((l) => l.startsWith(`${second.p.child.pid} `));
    const keys = lines.map((l) => l.split(" ")[1]);
    const twice = keys.filter((k, i) => keys.indexOf(k) !== i);
    console.log(
      `chaos sqlite: second server ${"exited" in outcome ? `exited ${JSON.stringify(outcome.exited)}` : "SERVED"}; ` +
        `${lines.length} executions, ${bySecond.length} by the second server, ${twice.length} keys executed twice; runs ${JSON.stringify(ended)}`,
    );
    expect(bySecond, `executions by the second server (seed ${seed}):\n${second.p.tail()}`).toEqual(
      [],
    );
    expect(twice, "commands executed twice").toEqual([]);
    expect("exited" in outcome, `the second server was not refused:\n${second.p.tail()}`).toBe(
      true,
    );
    expect(second.p.output).toMatch(/STORE_LOCKED/);
  }, 150_000);
});
