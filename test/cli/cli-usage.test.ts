import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBaton, type CliResult } from "../demo/harness/cli.js";
import { freePort } from "../demo/harness/processes.js";

/** A stack trace in the output means an error escaped the CLI's handling. */
function expectNoStackTrace(result: CliResult): void {
  expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(result.stdout).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}

describe("the baton CLI on its own", () => {
  it("exits 2 on an unknown command, an unknown option, a missing argument or a bad value", async () => {
    const results = await Promise.all([
      runBaton(["launch"]),
      runBaton(["runs", "--frobnicate"]),
      runBaton(["show"]),
      runBaton(["runs", "--limit", "lots"]),
      runBaton(["runs", "--status", "sleeping"]),
    ]);
    for (const result of results) {
      expect(result.code).toBe(2);
      expectNoStackTrace(result);
    }
    expect(results[0].stderr).toMatch(/^error: unknown command 'launch'/);
    expect(results[1].stderr).toMatch(/^error: unknown option '--frobnicate'/);
    expect(results[2].stderr).toMatch(/^error: missing required argument 'runId'/);
    expect(results[3].stderr).toMatch(/--limit <n>.*expected a whole number/);
    expect(results[4].stderr).toMatch(/expected one of pending, running/);
  });

  it("exits 1 with one readable line when the server cannot be reached", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await runBaton(["runs"], { url });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(
      new RegExp(`^error: UNAVAILABLE: cannot reach Baton at ${url} .*ECONNREFUSED`),
    );
  });

  it("prints help and its version with exit 0", async () => {
    const [help, version] = await Promise.all([runBaton(["--help"]), runBaton(["--version"])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: baton/);
    for (const command of [
      "server",
      "dev",
      "run",
      "runs",
      "show",
      "signal",
      "cancel",
      "retry",
      "skip",
      "schedules",
      "demo",
    ]) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    }
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("server exits 2 when a --workflows file is missing or defines nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "baton-cli-server-"));
    try {
      const db = `sqlite:${join(dir, "baton.db")}`;
      const [missing, empty] = await Promise.all([
        runBaton(["server", "--port", "0", "--db", db, "--workflows", "nowhere.ts"]),
        runBaton([
          "server",
          "--port",
          "0",
          "--db",
          db,
          "--workflows",
          join("test", "cli", "fixtures", "no-definitions.ts"),
        ]),
      ]);
      expect(missing.code).toBe(2);
      expect(missing.stderr.trim()).toBe("error: --workflows nowhere.ts: no such file");
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(/exports no workflow\(\), service\(\) or schedule\(\) values/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
