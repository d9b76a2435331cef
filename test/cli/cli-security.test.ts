import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBaton, type CliResult } from "../demo/harness/cli.js";
import { ProcessGroup, eventually } from "../demo/harness/processes.js";

const WORKFLOWS = join("test", "cli", "fixtures", "cli-workflows.ts");

function expectNoStackTrace(result: CliResult): void {
  expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(result.stdout).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}

describe("baton server's security defaults, as processes", () => {
  const dir = mkdtempSync(join(tmpdir(), "baton-cli-security-"));
  const group = new ProcessGroup();
  const db = (name: string): string => `sqlite:${join(dir, `${name}.db`)}`;
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses an empty token from the flag or the environment with exit 2", async () => {
    const [flag, env, devFlag] = await Promise.all([
      runBaton(["server", "--port", "0", "--db", db("t1"), "--token", ""]),
      runBaton(["server", "--port", "0", "--db", db("t2")], { env: { BATON_API_TOKEN: "" } }),
      runBaton(["dev", "--port", "0", "--db", db("t3"), "--token", "  "]),
    ]);
    for (const result of [flag, env, devFlag]) {
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toBe(
        "error: --token (or BATON_API_TOKEN) is empty: give a real token, or leave both out to serve without one",
      );
      expectNoStackTrace(result);
    }
  });

  it("refuses to bind a non-loopback address without a token, exit 2, before opening anything", async () => {
    const result = await runBaton([
      "server",
      "--port",
      "0",
      "--db",
      db("open"),
      "--host",
      "0.0.0.0",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(
      /^error: INVALID_ARGUMENT: refusing to serve the API without a token on 0\.0\.0\.0, .*--insecure-no-auth/,
    );
    expectNoStackTrace(result);
  });

  it("serves open with --insecure-no-auth, saying so loudly at start and on /readyz", async () => {
    const server = group.startBaton("open", [
      "server",
      "--workflows",
      WORKFLOWS,
      "--db",
      db("insecure"),
      "--port",
      "0",
      "--host",
      "0.0.0.0",
      "--insecure-no-auth",
    ]);
    const [, url = ""] = await server.waitForOutput(/listening on (http:\/\/[\d.]+:\d+)/);
    await server.waitForOutput(/WARNING: NO AUTH/);
    const ready = await eventually("/readyz", async () => {
      const response = await fetch(`${url}/readyz`);
      return response.status === 200 ? await response.json() : undefined;
    });
    expect(ready).toEqual({ status: "ok", warnings: ["no auth"] });
    server.kill("SIGTERM");
    await server.exited;
  });

  it("refuses a second process on the same SQLite file with STORE_LOCKED and exit 1, and a SIGKILLed owner does not block a restart", async () => {
    const shared = db("shared");
    const args = ["server", "--workflows", WORKFLOWS, "--db", shared, "--port", "0"];
    const first = group.startBaton("first", args);
    await first.waitForOutput(/listening on http/);

    const second = await runBaton(args);
    expect(second.code).toBe(1);
    expect(second.stderr.trim()).toMatch(
      new RegExp(
        `^error: STORE_LOCKED: .*shared\\.db is in use by another Baton process \\(pid ${first.pid}\\b`,
      ),
    );
    expect(second.stdout).not.toMatch(/listening/);
    expectNoStackTrace(second);

    first.kill("SIGKILL");
    await first.exited;
    const restarted = group.startBaton("restarted", args);
    const [, url = ""] = await restarted.waitForOutput(/listening on (http:\/\/[\d.]+:\d+)/);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    // A clean stop releases the file at once too.
    restarted.kill("SIGTERM");
    expect((await restarted.exited).code).toBe(0);
    const third = group.startBaton("third", args);
    await third.waitForOutput(/listening on http/);
    third.kill("SIGTERM");
    await third.exited;
  });
});
