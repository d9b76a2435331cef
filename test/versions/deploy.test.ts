/**
 * Deploying changed workflow code under runs in flight, with real processes: `baton server` on a
 * SQLite file with 100 runs of version 1 waiting mid-saga (after `reserve`, for approval), killed
 * with SIGKILL, checked with `baton replay-check` against the candidate code, and restarted with
 * it — once with versions 1 and 2 side by side, once with the change behind `ctx.patched`.
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient, type Run } from "../../src/client/index.js";
import { runBaton } from "../demo/harness/cli.js";
import { ProcessGroup, eventually, type TestProcess } from "../demo/harness/processes.js";

const TOKEN = "versions-test-token";
const FIXTURES = join("test", "versions", "fixtures");
const fixture = (name: string): string => join(FIXTURES, `order-${name}.ts`);
const WAITING = 100;
const GATED = 5;
const DONE = 3;

const processes = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), "baton-versions-"));
afterAll(async () => {
  await processes.killAll();
  rmSync(dir, { recursive: true, force: true });
});

async function startServer(
  db: string,
  workflows: string,
): Promise<{ server: TestProcess; client: BatonClient }> {
  const server = processes.startBaton(`server ${workflows}`, [
    "server",
    "--workflows",
    workflows,
    "--db",
    `sqlite:${db}`,
    "--port",
    "0",
    "--token",
    TOKEN,
  ]);
  const [, url = ""] = await server.waitForOutput(/listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  return { server, client: new BatonClient({ url, token: TOKEN }) };
}

async function allRuns(client: BatonClient): Promise<Run[]> {
  return (await client.listRuns({ limit: 1000 })).runs;
}

/** Waits until `count` runs wait for `signal`. */
async function waitingFor(client: BatonClient, signal: string, count: number): Promise<Run[]> {
  return eventually(`${count} runs to wait for ${signal}`, async () => {
    const runs = (await allRuns(client)).filter((r) => r.waitingOn?.signal === signal);
    return runs.length === count ? runs : undefined;
  });
}

async function signalAll(
  client: BatonClient,
  runIds: readonly string[],
  name: string,
): Promise<void> {
  // Ten at a time: the server takes them concurrently, the test stays light.
  for (let i = 0; i < runIds.length; i += 10)
    await Promise.all(runIds.slice(i, i + 10).map((id) => client.signal(id, name)));
}

const stepsOf = async (client: BatonClient, runId: string): Promise<string[]> =>
  (await client.getRun(runId)).steps.map((s) => s.name);

const ids = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}`);

/** 100 runs past `reserve` waiting for approval, 5 gated before it, 3 completed; then SIGKILL. */
async function deployVersion1(db: string): Promise<void> {
  const { server, client } = await startServer(db, fixture("v1"));
  for (const runId of [...ids("mid", WAITING), ...ids("done", DONE)])
    await client.startRun("order", { id: runId }, { runId });
  for (const runId of ids("gated", GATED))
    await client.startRun("order", { id: runId, gated: true }, { runId });
  await waitingFor(client, "approve", WAITING + DONE);
  await waitingFor(client, "go", GATED);
  await signalAll(client, ids("done", DONE), "approve");
  for (const runId of ids("done", DONE))
    await eventually(
      `${runId} to complete`,
      async () => (await client.getRun(runId)).status === "completed",
    );
  server.kill("SIGKILL");
  await server.exited;
}

/** The database version 1 left, copied for one test (the WAL with it: the server was killed). */
function copyOf(base: string, name: string): string {
  const db = join(dir, name);
  copyFileSync(base, db);
  if (existsSync(`${base}-wal`)) copyFileSync(`${base}-wal`, `${db}-wal`);
  return db;
}

function fingerprint(db: string): string {
  const hash = createHash("sha256");
  for (const file of [db, `${db}-wal`]) if (existsSync(file)) hash.update(readFileSync(file));
  return hash.digest("hex");
}

/** Run ids named on replay-check's stdout. */
function named(stdout: string): string[] {
  return [...stdout.matchAll(/^run (\S+) /gm)].map((m) => m[1]!).sort();
}

describe("deploying workflow changes under runs in flight", () => {
  const base = join(dir, "v1.db");
  beforeAll(() => deployVersion1(base), 120_000);

  it("replay-check names exactly the runs the unpatched change would break, reads only, and passes the patched code", async () => {
    const db = copyOf(base, "check.db");
    const before = fingerprint(db);

    const check = (db: string, workflows: string, ...more: string[]) =>
      runBaton(["replay-check", "--db", db, "--workflows", fixture(workflows), ...more], {
        timeoutMs: 90_000,
      });
    // Every check at once: readers of one file do not get in each other's way.
    const [broken, withDone, patched, both, dropped, usage, missing] = await Promise.all([
      check(`sqlite:${db}`, "changed", "--limit", "0"),
      check(db, "changed"),
      check(`sqlite:${db}`, "patched"),
      check(`sqlite:${db}`, "v1-v2"),
      check(db, "v2-only"),
      runBaton(["replay-check", "--workflows", fixture("v1")]),
      check(join(dir, "nowhere.db"), "v1"),
    ]);

    expect(broken.code, broken.stderr).toBe(1);
    // The runs past the change, not the gated ones that have not reached it.
    expect(named(broken.stdout)).toEqual(ids("mid", WAITING));
    expect(broken.stdout).toContain(
      "run mid-000 (order v1, waiting) diverges at seq 2: journal has signal approve, code asked for step fraudCheck",
    );
    expect(broken.stderr).toContain("opened read-only");
    expect(broken.stderr).toContain(`${GATED + WAITING} run(s) checked`);
    expect(broken.stderr).toContain(`${WAITING} would diverge`);
    expect(broken.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

    // With the terminal runs that ended last: the completed ones went past the change too.
    expect(withDone.code).toBe(1);
    expect(named(withDone.stdout)).toEqual([...ids("done", DONE), ...ids("mid", WAITING)].sort());

    for (const ok of [patched, both]) {
      expect(ok.code, `${ok.stdout}${ok.stderr}`).toBe(0);
      expect(ok.stdout).toBe("");
      expect(ok.stderr).toContain(`${WAITING + GATED + DONE} match, 0 would diverge`);
    }
    // Code without version 1 cannot run the runs in flight: that fails the gate as well.
    expect(dropped.code).toBe(1);
    expect(dropped.stdout).toContain(
      "cannot run: version 1 of workflow order is not in the code (it has 2)",
    );

    expect(fingerprint(db)).toBe(before);

    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--db is required");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no SQLite database at");
    expect(missing.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });

  it("restarted with versions 1 and 2: runs in flight finish on version 1's steps, new runs take version 2", async () => {
    const db = copyOf(base, "versions.db");
    const { client } = await startServer(db, fixture("v1-v2"));
    const fresh = await client.startRun("order", { id: "fresh" }, { runId: "fresh" });
    expect(fresh.run.version).toBe(2);
    await signalAll(client, ids("gated", GATED), "go");
    await waitingFor(client, "approve", WAITING + GATED + 1);
    await signalAll(client, [...ids("mid", WAITING), ...ids("gated", GATED), "fresh"], "approve");
    await eventually("every run to complete", async () =>
      (await allRuns(client)).every((r) => r.status === "completed"),
    );
    for (const runId of ids("mid", WAITING)) {
      const run = await client.getRun(runId);
      expect(run.version).toBe(1);
      expect(run.steps.map((s) => s.name)).toEqual(["reserve", "approve", "ship"]);
    }
    // Gated runs are of version 1 as well: they keep its code though they had not reached the change.
    expect(await stepsOf(client, "gated-000")).toEqual(["go", "reserve", "approve", "ship"]);
    expect(await stepsOf(client, "fresh")).toEqual(["reserve", "fraudCheck", "approve", "ship"]);
    expect((await client.getRun("fresh")).output).toMatchObject({ version: 2, checked: true });
    const [order] = await client.workflows();
    expect(order).toMatchObject({
      name: "order",
      version: 2,
      versions: [
        { version: 1, registered: true, inFlight: 0, total: WAITING + GATED + DONE },
        { version: 2, registered: true, inFlight: 0, total: 1 },
      ],
    });
  });

  it("restarted with the change behind ctx.patched: runs past it keep the old path, the others and new runs take the new one", async () => {
    const db = copyOf(base, "patched.db");
    const { client } = await startServer(db, fixture("patched"));
    await client.startRun("order", { id: "fresh" }, { runId: "fresh" });
    await signalAll(client, ids("gated", GATED), "go");
    await waitingFor(client, "approve", WAITING + GATED + 1);
    await signalAll(client, [...ids("mid", WAITING), ...ids("gated", GATED), "fresh"], "approve");
    await eventually("every run to complete", async () =>
      (await allRuns(client)).every((r) => r.status === "completed"),
    );
    for (const runId of ids("mid", WAITING))
      expect(await stepsOf(client, runId)).toEqual(["reserve", "approve", "ship"]);
    expect(await stepsOf(client, "gated-000")).toEqual([
      "go",
      "reserve",
      "fraudCheck",
      "approve",
      "ship",
    ]);
    expect(await stepsOf(client, "fresh")).toEqual(["reserve", "fraudCheck", "approve", "ship"]);
  });
});
