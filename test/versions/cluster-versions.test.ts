/**
 * Version pinning across nodes: real node processes (test/cluster/cluster-node.ts) on one
 * PostgreSQL database. A node deployed without a run's version never takes the run; a node that
 * has it takes it over and finishes it on that version's code.
 */
import { join } from "node:path";
import type pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { describePostgres, type TestDatabase } from "../support/postgres.js";
import { closeClusterDatabase, openClusterDatabase } from "../cluster/cluster-database.js";
import {
  ProcessGroup,
  REPO,
  eventually,
  sleep,
  type TestProcess,
} from "../demo/harness/processes.js";

const NODE_SCRIPT = join(REPO, "test", "cluster", "cluster-node.ts");
const LEASE_MS = 1_500;

interface Node {
  id: string;
  process: TestProcess;
  url: string;
}

interface RunBody {
  status: string;
  version: number;
  output?: unknown;
  waitingOn?: { kind: string; reason: string };
}

describePostgres("versions across nodes", () => {
  let db: TestDatabase;
  let sql: pg.Pool;
  const processes = new ProcessGroup();

  beforeEach(async () => {
    ({ db, sql } = await openClusterDatabase(2));
  });

  afterEach(async () => {
    await processes.killAll();
    await closeClusterDatabase({ db, sql });
  });

  async function startNode(id: string, workflows: string): Promise<Node> {
    const process = processes.startTs(`node ${id}`, NODE_SCRIPT, [
      db.url,
      id,
      String(LEASE_MS),
      workflows,
    ]);
    const [, url] = await process.waitForOutput(/READY (http:\/\/\S+)/, 60_000);
    return { id, process, url: url! };
  }

  async function call(
    node: Node,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: RunBody }> {
    const response = await fetch(`${node.url}${path}`, {
      ...(body === undefined
        ? {}
        : {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as RunBody };
  }

  const owner = async (runId: string): Promise<string | null> =>
    (await sql.query<{ owner: string | null }>("SELECT owner FROM runs WHERE run_id = $1", [runId]))
      .rows[0]!.owner;

  it("a node lacking a run's version leaves it to a node that has it, which finishes it on that version", async () => {
    const [old, v2only] = await Promise.all([
      startNode("old", "approval"),
      startNode("v2only", "approval@2"),
    ]);
    const pinned = await call(old, "/v1/workflows/approval/runs", { runId: "pinned" });
    expect(pinned).toMatchObject({ status: 201, body: { version: 1 } });
    const fresh = await call(v2only, "/v1/workflows/approval/runs", { runId: "fresh" });
    expect(fresh).toMatchObject({ status: 201, body: { version: 2 } });
    await eventually(
      "the pinned run to wait on its node",
      async () => (await call(v2only, "/v1/runs/pinned")).body.status === "waiting",
    );

    old.process.kill("SIGKILL");
    await old.process.exited;
    expect((await call(v2only, "/v1/runs/pinned/signals/decision", { payload: "go" })).status).toBe(
      202,
    );
    const told = await eventually("the run to say it waits for a node with version 1", async () => {
      const { body } = await call(v2only, "/v1/runs/pinned");
      return body.waitingOn?.reason.includes("version 1 of workflow approval") ? body : undefined;
    });
    expect(told.waitingOn?.kind).toBe("lease");
    // The node without version 1 has seen the dead node's lease lapse and the run due; it must pass.
    await sleep(2 * LEASE_MS); // two lease periods: time for its takeover scan to run and pass
    expect(await owner("pinned")).toBe("old");
    expect((await call(v2only, "/v1/runs/pinned")).body.status).not.toBe("completed");

    const both = await startNode("both", "approval,approval@2");
    const done = await eventually(
      "a node with version 1 to take the run over and finish it",
      async () => {
        const { body } = await call(both, "/v1/runs/pinned");
        return body.status === "completed" ? body : undefined;
      },
      30_000,
    );
    // Version 1's code ran it (version 2 would say so in its output).
    expect(done).toMatchObject({ version: 1, output: { decision: "go", decidedOn: "both" } });
    expect(await owner("pinned")).toBe("both");

    expect((await call(v2only, "/v1/runs/fresh/signals/decision", { payload: "ok" })).status).toBe(
      202,
    );
    const freshDone = await eventually("the version 2 run to finish", async () => {
      const { body } = await call(v2only, "/v1/runs/fresh");
      return body.status === "completed" ? body : undefined;
    });
    expect(freshDone).toMatchObject({
      version: 2,
      output: { decision: "ok", decidedOn: "v2only", version: 2 },
    });

    const workflows = await call(both, "/v1/workflows");
    const approval = (
      workflows.body as unknown as { workflows: Array<{ name: string; versions: unknown }> }
    ).workflows.find((w) => w.name === "approval");
    expect(approval?.versions).toEqual([
      { version: 1, registered: true, inFlight: 0, total: 1 },
      { version: 2, registered: true, inFlight: 0, total: 1 },
    ]);
  });
});
