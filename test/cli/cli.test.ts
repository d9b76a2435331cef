import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, type ExpectStatic } from "vitest";
import { BatonClient, type Run, type RunStatus } from "../../src/client/index.js";
import { runBaton, type CliResult } from "../demo/harness/cli.js";
import { ProcessGroup, eventually } from "../demo/harness/processes.js";

const TOKEN = "cli-test-token";
const WORKFLOWS = join("test", "cli", "fixtures", "cli-workflows.ts");

/** A stack trace in the output means an error escaped the CLI's handling. */
function expectNoStackTrace(expect: ExpectStatic, result: CliResult): void {
  expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(result.stdout).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}

// Each test uses runs of its own, so they run concurrently: most of their time is spent
// starting `baton` processes.
describe.concurrent("the baton CLI against a server", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-cli-"));
  let url = "";
  let client: BatonClient;
  const baton = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    runBaton(args, { url, env: { BATON_API_TOKEN: TOKEN, ...env } });
  /** Runs are set up and checked over HTTP directly; the CLI is what is under test. */
  const runUntil = (runId: string, status: RunStatus): Promise<Run> =>
    eventually(`run ${runId} to be ${status}`, async () => {
      const run = await client.getRun(runId);
      return run.status === status ? run : undefined;
    });

  beforeAll(async () => {
    const server = group.startBaton("server", [
      "server",
      "--workflows",
      WORKFLOWS,
      "--db",
      `sqlite:${join(dir, "baton.db")}`,
      "--port",
      "0",
      "--token",
      TOKEN,
    ]);
    [, url = ""] = await server.waitForOutput(/listening on (http:\/\/[\d.]+:\d+)/);
    client = new BatonClient({ url, token: TOKEN });
    expect(server.output).toMatch(
      /"workflows":\["approval","doomed","gated","greet","stuck"\],"services":\["greeter\(local\)"\]/,
    );
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("run", () => {
    it("--wait exits 0 when the run completes, with progress on stderr and the output", async ({
      expect,
    }) => {
      const result = await baton([
        "run",
        "greet",
        "--input",
        '{"name":"Ada"}',
        "--id",
        "greet-1",
        "--wait",
      ]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/✓ run greet-1 completed in \d/);
      expect(result.stdout).toContain('output: {"greeting":"hello Ada"}');
      expect(result.stderr).toMatch(/greet-1 · (pending|running)/);
    });

    it("--tag labels the run, and runs --tag --since --until find it by tags and time", async ({
      expect,
    }) => {
      const started = await baton([
        "run",
        "greet",
        "--input",
        '{"name":"Tag"}',
        "--id",
        "tagged-1",
        "--tag",
        "customer=c-17",
        "--tag",
        "region=eu",
        "--json",
      ]);
      expect(started.code).toBe(0);
      expect((JSON.parse(started.stdout) as Run).tags).toEqual({ customer: "c-17", region: "eu" });
      const other = await baton([
        "run",
        "greet",
        "--input",
        '{"name":"Other"}',
        "--id",
        "tagged-2",
        "--tag",
        "customer=c-17",
      ]);
      expect(other.code).toBe(0);
      const ids = async (args: string[]): Promise<string[]> => {
        const result = await baton(["runs", ...args, "--json"]);
        expect(result.code).toBe(0);
        return (JSON.parse(result.stdout) as { runs: Run[] }).runs.map((run) => run.runId);
      };
      expect(await ids(["--tag", "customer=c-17", "--tag", "region:eu", "--since", "1h"])).toEqual([
        "tagged-1",
      ]);
      expect(await ids(["--tag", "customer=c-17", "--since", "1h"])).toEqual([
        "tagged-2",
        "tagged-1",
      ]);
      expect(await ids(["--tag", "customer=c-17", "--until", "1h"])).toEqual([]);
      const bad = await baton(["run", "greet", "--tag", "customer"]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("expected key=value");
      const refused = await baton([
        "run",
        "greet",
        "--input",
        '{"name":"X"}',
        "--tag",
        "cust omer=x",
      ]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("INVALID_TAGS");
      expectNoStackTrace(expect, refused);
    });

    it("--wait exits 1 when the run is compensated, saying why", async ({ expect }) => {
      const result = await baton(["run", "doomed", "--id", "doomed-1", "--wait"]);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/✗ run doomed-1 compensated after/);
      expect(result.stdout).toContain("error: OUT_OF_STOCK: ");
      expectNoStackTrace(expect, result);
    });

    it("--wait --json prints the final run", async ({ expect }) => {
      const result = await baton(["run", "greet", "--input", '{"name":"Bo"}', "--wait", "--json"]);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ workflow: "greet", status: "completed" });
    });

    it("starts without waiting, idempotently by --id, and reads --input from a file", async ({
      expect,
    }) => {
      const inputFile = join(dir, "input.json");
      writeFileSync(inputFile, '{"name":"Cy"}');
      const first = await baton(["run", "greet", "--input", `@${inputFile}`, "--id", "greet-2"]);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^started run greet-2 \(greet, \w+\)/);
      const again = await baton(["run", "greet", "--input", `@${inputFile}`, "--id", "greet-2"]);
      expect(again.stdout).toMatch(/^exists already: run greet-2/);
      expect((await runUntil("greet-2", "completed")).output).toEqual({ greeting: "hello Cy" });
    });

    it("refuses input that is not JSON with exit 2 and a readable message", async ({ expect }) => {
      const [result, missing] = await Promise.all([
        baton(["run", "greet", "--input", "{name: Ada}"]),
        baton(["run", "greet", "--input", "@/nonexistent/input.json"]),
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^error: --input is not valid JSON \(.+\); e\.g\. --input/);
      expectNoStackTrace(expect, result);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/cannot read \/nonexistent\/input\.json/);
    });

    it("reports input failing the workflow's schema with exit 2 and the schema's complaints", async ({
      expect,
    }) => {
      const result = await baton(["run", "greet", "--input", '{"name":42}']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^error: INPUT_INVALID: .+\n {2}- name: /);
      expectNoStackTrace(expect, result);
    });

    it("reports a bad run id with exit 2 and an unknown workflow with exit 1", async ({
      expect,
    }) => {
      const [badId, unknown] = await Promise.all([
        baton(["run", "greet", "--input", '{"name":"x"}', "--id", "no spaces"]),
        baton(["run", "nope"]),
      ]);
      expect(badId.code).toBe(2);
      expect(badId.stderr).toMatch(/^error: INVALID_RUN_ID: /);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^error: WORKFLOW_NOT_FOUND: /);
    });
  });

  describe("runs and show", () => {
    it("runs --json lists runs newest first, filtered by workflow and status, a page at a time", async ({
      expect,
    }) => {
      await client.startRun(
        "gated",
        { flagFile: join(dir, "never") },
        { runId: "list-1", waitSeconds: 10 },
      );
      await client.startRun(
        "gated",
        { flagFile: join(dir, "never") },
        { runId: "list-2", waitSeconds: 10 },
      );
      const [all, page] = await Promise.all([
        baton(["runs", "--json", "--workflow", "gated", "--status", "failed"]),
        baton(["runs", "--json", "--workflow", "gated", "--status", "failed", "--limit", "1"]),
      ]);
      const listed = (JSON.parse(all.stdout) as { runs: Run[] }).runs.map((r) => r.runId);
      expect(listed.indexOf("list-2")).toBeLessThan(listed.indexOf("list-1"));
      const first = JSON.parse(page.stdout) as { runs: Run[]; nextCursor?: string };
      expect(first.runs).toHaveLength(1);
      expect(first.runs[0]).toMatchObject({ workflow: "gated", status: "failed" });
      expect(first.nextCursor).toEqual(expect.any(String));
    });

    it("runs prints a table: status, workflow, run id, started, duration", async ({ expect }) => {
      await client.startRun("doomed", {}, { runId: "table-1", waitSeconds: 10 });
      const result = await baton(["runs", "--workflow", "doomed"]);
      expect(result.code).toBe(0);
      const [header, ...rows] = result.stdout.trimEnd().split("\n");
      expect(header).toMatch(/^STATUS\s+WORKFLOW\s+RUN ID\s+STARTED\s+DURATION$/);
      expect(
        rows.some((row) =>
          /^compensated\s+doomed\s+table-1\s+(\d+ s ago|just now)\s+\d+ ms$/.test(row),
        ),
      ).toBe(true);
    });

    it("show prints the steps with attempts, durations and errors, compensations marked, and a timeline", async ({
      expect,
    }) => {
      await client.startRun("doomed", {}, { runId: "show-1", waitSeconds: 10 });
      const [result, json] = await Promise.all([
        baton(["show", "show-1"]),
        baton(["show", "show-1", "--json"]),
      ]);
      expect(result.code).toBe(0);
      const out = result.stdout;
      expect(out).toMatch(/^doomed\s+show-1\s+compensated/);
      expect(out).toMatch(/error\s+OUT_OF_STOCK: /);
      expect(out).toMatch(/SEQ\s+KIND\s+NAME\s+STATUS\s+ATTEMPTS\s+DURATION\s+ERROR/);
      expect(out).toMatch(/1\s+step\s+reserve\s+completed\s+1\s+\d+ ms/);
      expect(out).toMatch(/2\s+step\s+explode\s+failed\s+1\s+\d+ ms\s+OUT_OF_STOCK: out of stock/);
      expect(out).toMatch(/3\s+step\s+↺ release \(undoes 1\)\s+completed/);
      expect(out).toMatch(/^timeline\s+0 ─+ \d+ ms$/m);
      expect(out).toMatch(/^↺\s+3 release\s+ *█+$/m);
      expect(JSON.parse(json.stdout)).toMatchObject({
        runId: "show-1",
        status: "compensated",
        steps: expect.any(Array),
      });
    });

    it("show says what a waiting run waits on", async ({ expect }) => {
      await client.startRun("approval", {}, { runId: "approval-waiting" });
      // The engine may report `waiting` an instant before it says on what.
      const run = await eventually("the approval to wait on its signal", async () => {
        const current = await client.getRun("approval-waiting");
        return current.waitingOn ? current : undefined;
      });
      expect(run.waitingOn).toMatchObject({ kind: "signal", signal: "decision" });
      const result = await baton(["show", "approval-waiting"]);
      expect(result.stdout).toMatch(/waiting\s+signal: .*decision/);
    });

    it("show of an unknown run exits 1: error: RUN_NOT_FOUND", async ({ expect }) => {
      const result = await baton(["show", "nobody"]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe("error: RUN_NOT_FOUND: run nobody does not exist");
    });
  });

  describe("signal, cancel, retry", () => {
    it("signal delivers a payload to a waiting run, and is refused once the run has ended", async ({
      expect,
    }) => {
      await client.startRun("approval", {}, { runId: "approval-1" });
      const sent = await baton([
        "signal",
        "approval-1",
        "decision",
        "--payload",
        '{"approved":true}',
      ]);
      expect(sent.code).toBe(0);
      expect(sent.stdout).toContain("signal decision sent to run approval-1");
      expect((await runUntil("approval-1", "completed")).output).toEqual({
        decision: { approved: true },
      });
      const [late, badPayload] = await Promise.all([
        baton(["signal", "approval-1", "decision"]),
        baton(["signal", "approval-1", "decision", "--payload", "{"]),
      ]);
      expect(late.code).toBe(1);
      expect(late.stderr).toMatch(/^error: RUN_TERMINAL: /);
      expect(badPayload.code).toBe(2);
    });

    it("cancel ends a waiting run cancelled, with its reason", async ({ expect }) => {
      await client.startRun("approval", {}, { runId: "approval-2" });
      await runUntil("approval-2", "waiting");
      const result = await baton(["cancel", "approval-2", "--reason", "changed my mind", "--json"]);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({
        accepted: true,
        runId: "approval-2",
        cancel: true,
      });
      expect((await runUntil("approval-2", "cancelled")).error?.message).toMatch(/changed my mind/);
    });

    it("retry resumes a failed run where it stopped, and refuses a run that did not fail", async ({
      expect,
    }) => {
      const flagFile = join(dir, "gate-open");
      const failed = await baton([
        "run",
        "gated",
        "--id",
        "gated-1",
        "--input",
        JSON.stringify({ flagFile }),
        "--wait",
      ]);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(/✗ run gated-1 failed/);
      writeFileSync(flagFile, "open");
      await client.startRun("greet", { name: "Di" }, { runId: "greet-3", waitSeconds: 10 });
      const [retried, notFailed] = await Promise.all([
        baton(["retry", "gated-1"]),
        baton(["retry", "greet-3"]),
      ]);
      expect(retried.code).toBe(0);
      expect(retried.stdout).toContain("run gated-1 resumes");
      expect((await runUntil("gated-1", "completed")).output).toEqual({ opened: true });
      expect(notFailed.code).toBe(1);
      expect(notFailed.stderr).toMatch(/^error: RUN_NOT_FAILED: /);
    });
  });

  describe("skip, and run --deadline", () => {
    /** Starts `stuck` and waits until its failed release waits for an operator. */
    const startStuck = async (runId: string): Promise<void> => {
      await client.startRun("stuck", {}, { runId });
      // The server checks an operator's action against the stored row, which the list reads.
      await eventually(`${runId} to wait for an operator`, async () => {
        const { runs } = await client.listRuns({ runIdPrefix: runId });
        return runs[0]?.waitingOn?.kind === "operator" ? runs[0] : undefined;
      });
    };

    it("show says which compensation failed and what to do; skip skips it and the run ends failed", async ({
      expect,
    }) => {
      await startStuck("stuck-1");
      const shown = await baton(["show", "stuck-1"]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/waiting\s+operator: compensation of step reserve failed/);
      expect(shown.stdout).toMatch(/baton skip stuck-1 1/);

      const skipped = await baton(["skip", "stuck-1", "1"]);
      expect(skipped.code).toBe(0);
      expect(skipped.stdout).toContain("compensation of seq 1 of run stuck-1 skipped");
      expect((await runUntil("stuck-1", "failed")).error?.code).toBe("PARTIALLY_COMPENSATED");

      // Skipping again: the run has ended, and the server says so.
      const again = await baton(["skip", "stuck-1", "1"]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^error: RUN_TERMINAL: /);
      expectNoStackTrace(expect, again);
    });

    it("skip --json; refuses a seq that did not fail (1), an unknown run (1), a bad seq (2)", async ({
      expect,
    }) => {
      await startStuck("stuck-2");
      const [wrongSeq, unknown, badSeq, zero, missing] = await Promise.all([
        baton(["skip", "stuck-2", "2"]),
        baton(["skip", "nobody", "1"]),
        baton(["skip", "stuck-2", "one"]),
        baton(["skip", "stuck-2", "0"]),
        baton(["skip", "stuck-2"]),
      ]);
      expect(wrongSeq.code).toBe(1);
      expect(wrongSeq.stderr).toMatch(
        /^error: NO_FAILED_COMPENSATION: run stuck-2 has no failed compensation of seq 2/,
      );
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^error: RUN_NOT_FOUND: /);
      for (const result of [badSeq, zero, missing]) {
        expect(result.code).toBe(2);
        expectNoStackTrace(expect, result);
      }
      expect(badSeq.stderr).toMatch(/expected a sequence number/);

      const json = await baton(["skip", "stuck-2", "1", "--json"]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({
        accepted: true,
        runId: "stuck-2",
        skipCompensation: 1,
      });
      expect((await runUntil("stuck-2", "failed")).error?.code).toBe("PARTIALLY_COMPENSATED");
    });

    it("run --deadline fails the run when it passes; a bad deadline exits 2", async ({
      expect,
    }) => {
      const [late, bad] = await Promise.all([
        baton(["run", "approval", "--id", "deadline-1", "--deadline", "200", "--wait"]),
        baton(["run", "approval", "--deadline", "0"]),
      ]);
      expect(late.code).toBe(1);
      expect(late.stdout).toMatch(/✗ run deadline-1 failed/);
      expect(late.stdout).toContain("error: DEADLINE_EXCEEDED: ");
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--deadline <ms>.*expected a whole number of milliseconds/);
    });
  });

  it("refuses a wrong token with exit 1 and a readable message; takes --token and --url", async ({
    expect,
  }) => {
    const [wrong, right] = await Promise.all([
      baton(["runs"], { BATON_API_TOKEN: "wrong" }),
      runBaton(["runs", "--url", url, "--token", TOKEN]),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: (UNAUTHORIZED|FORBIDDEN): /);
    expectNoStackTrace(expect, wrong);
    expect(right.code).toBe(0);
  });
});
