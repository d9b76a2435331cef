import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient } from "../../src/client/index.js";
import { runBaton, type CliResult } from "../demo/harness/cli.js";
import { ProcessGroup, eventually } from "../demo/harness/processes.js";

const WORKFLOWS = join("test", "cli", "fixtures", "schedule-workflows.ts");

/** `baton schedules` against a real server whose --workflows file declares a schedule. */
describe("baton schedules", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-cli-schedules-"));
  let url = "";
  let client: BatonClient;
  const baton = (args: string[]): Promise<CliResult> => runBaton(args, { url });

  beforeAll(async () => {
    const server = group.startBaton("server", [
      "server",
      "--workflows",
      WORKFLOWS,
      "--db",
      `sqlite:${join(dir, "baton.db")}`,
      "--port",
      "0",
    ]);
    [, url = ""] = await server.waitForOutput(/listening on (http:\/\/[\d.]+:\d+)/);
    client = new BatonClient({ url });
    expect(server.output).toMatch(/"schedules":\["nightly"\]/);
  });
  afterAll(async () => {
    await group.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists the schedules declared in the --workflows file as a table", async () => {
    const result = await baton(["schedules"]);
    expect(result.code, result.stderr).toBe(0);
    const [header, row] = result.stdout.trimEnd().split("\n");
    expect(header).toMatch(
      /^NAME\s+STATE\s+CRON\s+WORKFLOW\s+NEXT TICK\s+LAST RUN\s+FIRED\s+SKIPPED$/,
    );
    expect(row).toMatch(
      /^nightly\s+active\s+0 3 \* \* \* \(Europe\/Berlin\)\s+report\s+\d{4}-\d\d-\d\dT0[12]:00:00\.000Z \(in .+\)\s+—\s+0\s+0$/,
    );
    const json = JSON.parse((await baton(["schedules", "list", "--json"])).stdout) as {
      schedules: Array<{ name: string; nextFireTimes: string[] }>;
    };
    expect(json.schedules.map((s) => [s.name, s.nextFireTimes.length])).toEqual([["nightly", 5]]);
  });

  it("pauses, triggers, shows and resumes a schedule", async () => {
    const paused = await baton(["schedules", "pause", "nightly"]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toBe("schedule nightly paused\n");
    expect((await client.getSchedule("nightly")).paused).toBe(true);
    expect((await baton(["schedules", "list"])).stdout).toMatch(/nightly\s+paused/);

    const triggered = await baton(["schedules", "trigger", "nightly"]);
    expect(triggered.code, triggered.stderr).toBe(0);
    const [, runId = ""] = /run (nightly:manual:\S+)/.exec(triggered.stdout) ?? [];
    expect(runId).toMatch(/^nightly:manual:\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const run = await eventually("the triggered run to complete", async () => {
      const r = await client.getRun(runId);
      return r.status === "completed" && r;
    });
    expect(run.output).toEqual({ wrote: "nightly" });

    const shown = await baton(["schedules", "show", "nightly"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("schedule nightly — paused");
    expect(shown.stdout).toContain("none (paused)");
    expect(shown.stdout).toMatch(new RegExp(`completed\\s+${runId.replace(/[.]/g, "\\.")}`));

    const resumed = await baton(["schedules", "resume", "nightly"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(
      /^schedule nightly resumed; next tick \d{4}-\d\d-\d\dT0[12]:00:00\.000Z\n$/,
    );
    expect((await client.getSchedule("nightly")).paused).toBe(false);
  });

  it("says clearly when a schedule does not exist, and exits 1; a missing name is a usage error", async () => {
    const missing = await baton(["schedules", "pause", "weekly"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error: SCHEDULE_NOT_FOUND: no schedule is named "weekly"');
    expect(missing.stderr).not.toMatch(/^\s+at /m);
    const usage = await baton(["schedules", "trigger"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing required argument 'name'/);
  });
});
