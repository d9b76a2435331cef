/**
 * Several Baton nodes on one PostgreSQL database (issue: no single point of failure). Every node
 * is a real process (cluster-node.ts) serving the HTTP API; the test talks to them over loopback,
 * kills them with SIGKILL, freezes them with SIGSTOP, and reads the database to check the result.
 */
import { join } from "node:path";
import type pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { RunStatus } from "../../src/common/index.js";
import { readSse } from "../server/sse-client.js";
import { PostgresStore } from "../../src/store/index.js";
import { describePostgres, type TestDatabase } from "../support/postgres.js";
import { closeClusterDatabase, openClusterDatabase } from "./cluster-database.js";
import {
  ProcessGroup,
  REPO,
  eventually,
  sleep,
  type TestProcess,
} from "../demo/harness/processes.js";

const NODE_SCRIPT = join(REPO, "test", "cluster", "cluster-node.ts");
const TERMINAL = ["completed", "compensated", "failed", "cancelled"];

interface Node {
  id: string;
  process: TestProcess;
  url: string;
}

let db: TestDatabase;
let sql: pg.Pool;
const processes = new ProcessGroup();

beforeEach(async () => {
  ({ db, sql } = await openClusterDatabase());
});

afterEach(async () => {
  await processes.killAll();
  await closeClusterDatabase({ db, sql });
});

async function startNode(
  id: string,
  leaseMs: number,
  urlParams = "",
  workflows?: string,
): Promise<Node> {
  const process = processes.startTs(`node ${id}`, NODE_SCRIPT, [
    db.url + urlParams,
    id,
    String(leaseMs),
    ...(workflows === undefined ? [] : [workflows]),
  ]);
  const [, url] = await process.waitForOutput(/READY (http:\/\/\S+)/, 60_000);
  return { id, process, url: url! };
}

interface Order {
  orderId: string;
  napMs: number;
  failShip: boolean;
}

/** POST a start; the HTTP status (201 new, 200 existing) or undefined if the node is unreachable. */
async function startRun(
  node: Node,
  workflow: string,
  runId: string,
  input: unknown,
): Promise<number | undefined> {
  try {
    const response = await fetch(`${node.url}/v1/workflows/${workflow}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runId, input }),
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined; // killed under us: the caller tries another node, with the same runId
  }
}

async function getJson<T>(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as T };
}

async function statusCounts(): Promise<Map<string, number>> {
  const { rows } = await sql.query<{ status: string; n: number }>(
    "SELECT status, count(*)::int AS n FROM runs GROUP BY status",
  );
  return new Map(rows.map((r) => [r.status, r.n]));
}

/** The node that owns the most runs not yet terminal. */
async function busiest(alive: Node[]): Promise<Node> {
  const { rows } = await sql.query<{ owner: string; n: number }>(
    `SELECT owner, count(*)::int AS n FROM runs
     WHERE status <> ALL($1) AND owner = ANY($2) GROUP BY owner ORDER BY n DESC LIMIT 1`,
    [TERMINAL, alive.map((n) => n.id)],
  );
  return alive.find((n) => n.id === rows[0]?.owner) ?? alive[0]!;
}

/** Steps that ran under more than one idempotency key: must be none. */
async function stepsUnderTwoKeys(): Promise<unknown[]> {
  const { rows } = await sql.query<{ run_id: string; step: string; keys: string[] }>(
    `SELECT run_id, step, array_agg(DISTINCT idempotency_key) AS keys FROM test_executions
     GROUP BY run_id, step HAVING count(DISTINCT idempotency_key) > 1`,
  );
  return rows;
}

async function journals(runIds: string[]): Promise<Map<string, unknown[]>> {
  const { rows } = await sql.query<{ run_id: string; entries: unknown[] }>(
    `SELECT run_id, json_agg(json_build_object('position', position, 'type', type, 'name', name, 'data', data)
       ORDER BY position) AS entries
     FROM journal WHERE run_id = ANY($1) GROUP BY run_id`,
    [runIds],
  );
  return new Map(rows.map((r) => [r.run_id, r.entries]));
}

describePostgres("several nodes on one PostgreSQL database", () => {
  it("three nodes, 1,000 order sagas, a node SIGKILLed three times: no run lost, no step under two keys, all terminal within lease + 10 s", async () => {
    const leaseMs = 3_000;
    const nodes: (Node | undefined)[] = await Promise.all(
      ["n1", "n2", "n3"].map((id) => startNode(id, leaseMs)),
    );
    const orders: Order[] = Array.from({ length: 1_000 }, (_, i) => ({
      orderId: `order-${String(i).padStart(4, "0")}`,
      napMs: Math.floor(Math.random() * 3_000),
      failShip: i % 5 === 0,
    }));

    // Starts spread over ~8 s and the nodes alive at the time; a start that meets a dying node
    // is sent again, with the same runId, to another one.
    const accepted = new Set<string>();
    // The last fifth waits for the last kill, so that kill always meets orders in flight,
    // however long the restarts before it took on a loaded machine.
    let openLastFifth!: () => void;
    const lastFifth = new Promise<void>((resolve) => (openLastFifth = resolve));
    const starting = (async () => {
      let turn = 0;
      for (let i = 0; i < orders.length; i += 25) {
        if (i === orders.length * 0.8) await lastFifth;
        await Promise.all(
          orders.slice(i, i + 25).map(async (order) => {
            for (;;) {
              const alive = nodes.filter((n): n is Node => n?.process.isRunning === true);
              const node = alive[turn++ % alive.length];
              if (!node) {
                await sleep(50);
                continue;
              }
              const status = await startRun(node, "placeOrder", order.orderId, order);
              if (status === 201 || status === 200) {
                accepted.add(order.orderId);
                return;
              }
              if (status !== undefined)
                throw new Error(`start of ${order.orderId} answered ${status}`);
              await sleep(50);
            }
          }),
        );
        await sleep(200);
      }
    })();

    // Three kills at random moments while the orders flow: the first victim comes back under
    // its own name (a supervisor's restart), the second as a new node, the third stays dead,
    // so its runs must be taken over by the survivors once its lease lapses.
    let lastKillAt = 0;
    let orphaned = 0;
    const kills: string[] = [];
    for (const comeback of ["same-name", "new-name", "none"] as const) {
      if (comeback === "none") openLastFifth();
      await sleep(1_000 + Math.random() * 1_000);
      const alive = nodes.filter((n): n is Node => n?.process.isRunning === true);
      // The last victim: whichever node holds the most unfinished runs right now.
      const slot =
        comeback === "none"
          ? nodes.indexOf(await busiest(alive))
          : nodes.indexOf(alive[Math.floor(Math.random() * alive.length)]);
      const victim = nodes[slot]!;
      victim.process.kill("SIGKILL");
      await victim.process.exited;
      lastKillAt = Date.now();
      kills.push(victim.id);
      nodes[slot] = undefined;
      if (comeback === "none") {
        const { rows } = await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM runs WHERE owner = $1 AND status <> ALL($2)`,
          [victim.id, TERMINAL],
        );
        orphaned = rows[0]!.n;
        continue;
      }
      await sleep(500);
      nodes[slot] = await startNode(
        comeback === "same-name" ? victim.id : `${victim.id}b`,
        leaseMs,
      );
    }
    await starting;
    expect(accepted.size).toBe(orders.length);

    await eventually(
      "every run terminal",
      async () => {
        const counts = await statusCounts();
        const terminal = TERMINAL.reduce((sum, s) => sum + (counts.get(s) ?? 0), 0);
        return terminal === orders.length;
      },
      leaseMs + 30_000,
      200,
    );
    const settledWithin = Date.now() - lastKillAt;
    console.log(
      `cluster: 1,000 sagas on 3 nodes, kills of ${kills.join(", ")}; the last left ` +
        `${orphaned} runs unfinished; all terminal ${settledWithin} ms after it (lease ${leaseMs} ms)`,
    );
    // The last victim died holding runs, so the survivors had to take them over.
    expect(orphaned).toBeGreaterThan(0);
    expect(settledWithin).toBeLessThanOrEqual(leaseMs + 10_000);

    // No run lost or duplicated, each ended as its input says.
    const { rows } = await sql.query<{ run_id: string; status: string }>(
      "SELECT run_id, status FROM runs ORDER BY run_id",
    );
    expect(rows.map((r) => r.run_id)).toEqual(orders.map((o) => o.orderId));
    for (const order of orders) {
      const row = rows.find((r) => r.run_id === order.orderId)!;
      expect(row.status, order.orderId).toBe(order.failShip ? "compensated" : "completed");
    }
    expect(await stepsUnderTwoKeys()).toEqual([]);
    // Every effect a run needed happened (at least once, under its one key).
    const { rows: effects } = await sql.query<{ run_id: string; steps: string[] }>(
      "SELECT run_id, array_agg(DISTINCT step ORDER BY step) AS steps FROM test_executions GROUP BY run_id",
    );
    const stepsOf = new Map(effects.map((e) => [e.run_id, e.steps]));
    for (const order of orders) {
      expect(stepsOf.get(order.orderId), order.orderId).toEqual(
        order.failShip ? ["charge", "refund", "release", "reserve"] : ["charge", "reserve", "ship"],
      );
    }

    // Any node answers for any run.
    for (const node of nodes.filter((n): n is Node => n !== undefined)) {
      const { status, body } = await getJson<{ status: string }>(
        `${node.url}/v1/runs/${orders[1]!.orderId}`,
      );
      expect(status).toBe(200);
      expect(body.status).toBe("completed");
    }
  }, 180_000);

  it("fencing: a node frozen past its lease loses its runs, and after SIGCONT nothing it attempts lands", async () => {
    const leaseMs = 1_500;
    const frozen = await startNode("frozen", leaseMs);
    const orders: Order[] = Array.from({ length: 20 }, (_, i) => ({
      orderId: `fenced-${i}`,
      napMs: 3_000,
      failShip: false,
    }));
    for (const order of orders) {
      expect(await startRun(frozen, "placeOrder", order.orderId, order)).toBe(201);
    }
    const runIds = orders.map((o) => o.orderId);
    // All reserved and asleep on the frozen node's timers.
    await eventually("the runs to sleep", async () => {
      const { rows } = await sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM runs WHERE status = 'waiting' AND owner = 'frozen'",
      );
      return rows[0]!.n === orders.length;
    });
    const { rows: held } = await sql.query<{ run_id: string; epoch: string }>(
      "SELECT run_id, epoch FROM runs WHERE run_id = ANY($1)",
      [runIds],
    );
    const epochsBefore = new Map(held.map((r) => [r.run_id, Number(r.epoch)]));
    frozen.process.kill("SIGSTOP");
    const frozenAt = Date.now();
    try {
      const rescuer = await startNode("rescuer", leaseMs);
      await eventually(
        "the rescuer to take the runs over and finish them",
        async () => {
          const { rows } = await sql.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM runs WHERE status = 'completed' AND owner = 'rescuer' AND run_id = ANY($1)",
            [runIds],
          );
          return rows[0]!.n === orders.length;
        },
        30_000,
      );
      const before = await journals(runIds);
      const outputBefore = frozen.process.output.length;

      frozen.process.kill("SIGCONT");
      // Thawed, the node sees from its own clock that its lease lapsed and drops its runs; any
      // write it still attempts into them is refused by the store (their epoch moved on).
      await frozen.process.waitForOutput(/lease lapsed/, 15_000);
      await sleep(2 * leaseMs);
      const thawedLog = frozen.process.output.slice(outputBefore);
      const refused = thawedLog
        .split("\n")
        .filter((line) => line.includes('"runId":"fenced-') && line.includes('"err"'))
        .map((line) => JSON.parse(line) as { runId: string; err?: { code?: string } });
      for (const attempt of refused) expect(attempt.err?.code).toBe("LEASE_LOST");

      // What a thawed node that did not notice would write: an append under the epoch it held.
      const stale = new PostgresStore({ connectionString: db.url, poolSize: 1 });
      try {
        for (const runId of runIds) {
          const [result] = await stale.commit([
            {
              type: "appendRun",
              runId,
              epoch: epochsBefore.get(runId)!,
              expectedLength: (before.get(runId) ?? []).length,
              entries: [
                {
                  position: (before.get(runId) ?? []).length,
                  seq: null,
                  type: "run.cancel_requested",
                  name: null,
                  data: null,
                  at: Date.now(),
                },
              ],
              update: {
                status: RunStatus.Running,
                updatedAt: Date.now(),
                wakeAt: null,
                waitingOn: null,
              },
            },
          ]);
          expect(result).toMatchObject({ ok: false, error: { code: "LEASE_LOST" } });
        }
      } finally {
        await stale.close();
      }
      console.log(
        `fencing: ${orders.length} runs taken over while frozen; after SIGCONT the node ` +
          `attempted ${refused.length} writes into them (all refused), and ${orders.length} ` +
          "appends under its old epoch were refused",
      );

      expect(await journals(runIds)).toEqual(before);
      const { rows: late } = await sql.query(
        "SELECT * FROM test_executions WHERE node_id = 'frozen' AND at > $1",
        [frozenAt],
      );
      expect(late).toEqual([]);
      const { rows: charged } = await sql.query<{ node_id: string; n: number }>(
        "SELECT node_id, count(*)::int AS n FROM test_executions WHERE step = 'charge' GROUP BY node_id",
      );
      expect(charged).toEqual([{ node_id: "rescuer", n: orders.length }]);
      expect(await stepsUnderTwoKeys()).toEqual([]);
      expect(rescuer.process.isRunning).toBe(true);
    } finally {
      frozen.process.kill("SIGCONT");
    }
  }, 90_000);

  it("the same runId started on two nodes at once gives one run", async () => {
    const [a, b] = await Promise.all([startNode("a", 3_000), startNode("b", 3_000)]);
    for (let i = 0; i < 20; i++) {
      const runId = `twice-${i}`;
      const order: Order = { orderId: runId, napMs: 0, failShip: false };
      const statuses = await Promise.all([
        startRun(a, "placeOrder", runId, order),
        startRun(b, "placeOrder", runId, order),
      ]);
      expect(statuses.sort(), runId).toEqual([200, 201]);
    }
    await eventually("every run completed", async () => {
      const counts = await statusCounts();
      return counts.get("completed") === 20;
    });
    const { rows } = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM runs");
    expect(rows[0]!.n).toBe(20);
    const { rows: reserved } = await sql.query<{ run_id: string; n: number }>(
      "SELECT run_id, count(DISTINCT idempotency_key)::int AS n FROM test_executions WHERE step = 'reserve' GROUP BY run_id",
    );
    expect(reserved).toHaveLength(20);
    for (const r of reserved) expect(r.n).toBe(1);
  });

  it("a signal or a cancel sent to any node reaches the run wherever it executes, and any node answers", async () => {
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((id) => startNode(id, 3_000)));
    expect(await startRun(a!, "approval", "approval-1", {})).toBe(201);
    await eventually("the run to wait for its signal", async () => {
      const { body } = await getJson<{ status: string }>(`${c!.url}/v1/runs/approval-1`);
      return body.status === "waiting";
    });
    const signalled = await fetch(`${b!.url}/v1/runs/approval-1/signals/decision`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ payload: { approved: true } }),
    });
    expect(signalled.status).toBe(202);
    const run = await eventually(
      "the run to complete",
      async () => {
        const { body } = await getJson<{ status: string; output?: unknown }>(
          `${c!.url}/v1/runs/approval-1`,
        );
        return body.status === "completed" ? body : undefined;
      },
      10_000,
    );
    expect(run.output).toEqual({ decision: { approved: true }, decidedOn: "a" });

    // The durable event log is the cluster's: node c tells of a run that ended on node a.
    for await (const event of readSse(await fetch(`${c!.url}/v1/events?after=0&topic=run.*`))) {
      expect(event).toMatchObject({ event: "run.completed", data: { runId: "approval-1" } });
      break;
    }

    // A cancel sent through another node reaches the run too.
    expect(await startRun(a!, "approval", "approval-2", {})).toBe(201);
    await eventually("the second run to wait", async () => {
      const { body } = await getJson<{ status: string }>(`${c!.url}/v1/runs/approval-2`);
      return body.status === "waiting";
    });
    const cancelled = await fetch(`${b!.url}/v1/runs/approval-2/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reason: "asked on node b" }),
    });
    expect(cancelled.status).toBe(202);
    const ended = await eventually(
      "the run to be cancelled",
      async () => {
        const { body } = await getJson<{ status: string; error?: unknown }>(
          `${c!.url}/v1/runs/approval-2`,
        );
        return body.status === "cancelled" ? body : undefined;
      },
      10_000,
    );
    expect(ended.error).toEqual({ code: "CANCELLED", message: "asked on node b" });
  });

  it("retry and skip sent through a node that does not own the run reach it within a second", async () => {
    const [a, b] = await Promise.all(["a", "b"].map((id) => startNode(id, 3_000)));
    const post = (node: Node, path: string): Promise<Response> =>
      fetch(`${node.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
    const statusOn = async (node: Node, runId: string) =>
      (
        await getJson<{ status: string; error?: { code: string }; waitingOn?: { kind: string } }>(
          `${node.url}/v1/runs/${runId}`,
        )
      ).body;

    // A failed run, owned by a: its fault is fixed, and the retry goes through b.
    expect(await startRun(a!, "gated", "gated-1", { key: "g-1" })).toBe(201);
    await eventually(
      "gated-1 to fail",
      async () => (await statusOn(a!, "gated-1")).status === "failed",
    );
    await sql.query("INSERT INTO test_gates (key) VALUES ('g-1')");
    const retriedAt = Date.now();
    expect((await post(b!, "/v1/runs/gated-1/retry")).status).toBe(202);
    await eventually(
      "gated-1 to complete",
      async () => (await statusOn(b!, "gated-1")).status === "completed",
      5_000,
    );
    const retryMs = Date.now() - retriedAt;

    // A rollback waiting on an operator on node a; the skip goes through b.
    expect(await startRun(a!, "guarded", "guarded-1", { key: "h-1" })).toBe(201);
    await eventually(
      "guarded-1 to wait on an operator",
      async () => (await statusOn(b!, "guarded-1")).waitingOn?.kind === "operator",
    );
    const skippedAt = Date.now();
    expect((await post(b!, "/v1/runs/guarded-1/compensations/1/skip")).status).toBe(202);
    const ended = await eventually(
      "guarded-1 to end",
      async () => {
        const run = await statusOn(b!, "guarded-1");
        return run.status === "failed" ? run : undefined;
      },
      5_000,
    );
    const skipMs = Date.now() - skippedAt;
    expect(ended.error?.code).toBe("PARTIALLY_COMPENSATED");
    expect(
      { retryMs: retryMs < 1_000, skipMs: skipMs < 1_000 },
      `retry ${retryMs} ms, skip ${skipMs} ms`,
    ).toEqual({
      retryMs: true,
      skipMs: true,
    });
  });

  it("`baton server --db postgres://…` nodes share the work: a run whose node is SIGKILLed ends on another", async () => {
    const fixtures = join(REPO, "test", "cli", "fixtures", "cli-workflows.ts");
    const serve = async (id: string): Promise<Node> => {
      const process = processes.startBaton(`baton server ${id}`, [
        "server",
        "--db",
        db.url,
        "--node-id",
        id,
        "--lease-ms",
        "1500",
        "--port",
        "0",
        "--workflows",
        fixtures,
      ]);
      const [, url] = await process.waitForOutput(/"url":"(http:\/\/[^"]+)"/, 60_000);
      return { id, process, url: url! };
    };
    const [a, b] = await Promise.all([serve("a"), serve("b")]);
    expect(await startRun(a, "approval", "cli-approval", {})).toBe(201);
    await eventually("the run to wait on node a", async () => {
      const { rows } = await sql.query<{ owner: string; status: string }>(
        "SELECT owner, status FROM runs WHERE run_id = 'cli-approval'",
      );
      return rows[0]?.status === "waiting" && rows[0].owner === "a";
    });
    a.process.kill("SIGKILL");
    await a.process.exited;
    const signalled = await fetch(`${b.url}/v1/runs/cli-approval/signals/decision`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ payload: "yes" }),
    });
    expect(signalled.status).toBe(202);
    const run = await eventually(
      "node b to take the run over and finish it",
      async () => {
        const { body } = await getJson<{ status: string; output?: unknown }>(
          `${b.url}/v1/runs/cli-approval`,
        );
        return body.status === "completed" ? body : undefined;
      },
      15_000,
    );
    expect(run.output).toEqual({ decision: "yes" });
    const { rows } = await sql.query<{ owner: string | null }>(
      "SELECT owner FROM runs WHERE run_id = 'cli-approval'",
    );
    expect(rows[0]!.owner === null || rows[0]!.owner === "b").toBe(true);
  });

  it("without LISTEN/NOTIFY (?listen=false) a signal through another node still reaches the run, by polling", async () => {
    // db.url carries no query string of its own (see test/support/postgres.ts).
    const [a, b] = await Promise.all([
      startNode("quiet-a", 2_000, "?listen=false"),
      startNode("quiet-b", 2_000, "?listen=false"),
    ]);
    expect(await startRun(a, "approval", "unheard", {})).toBe(201);
    await eventually("the run to wait on node quiet-a", async () => {
      const { body } = await getJson<{ status: string }>(`${b.url}/v1/runs/unheard`);
      return body.status === "waiting";
    });
    const sentAt = Date.now();
    const signalled = await fetch(`${b.url}/v1/runs/unheard/signals/decision`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ payload: { approved: true } }),
    });
    expect(signalled.status).toBe(202);
    const run = await eventually(
      "the owner to find the signal by its catch-up scan",
      async () => {
        const { body } = await getJson<{ status: string; output?: unknown }>(
          `${b.url}/v1/runs/unheard`,
        );
        return body.status === "completed" ? body : undefined;
      },
      15_000,
    );
    expect(run.output).toEqual({ decision: { approved: true }, decidedOn: "quiet-a" });
    console.log(`without notifications: the signal reached the run in ${Date.now() - sentAt} ms`);
  });

  it("a node that lacks a run's workflow (a rolling deploy) never takes the run from nodes that have it", async () => {
    const [older, newer] = await Promise.all([
      startNode("older", 1_500, "", "placeOrder"),
      startNode("newer", 1_500),
    ]);
    expect(await startRun(newer, "approval", "rolling", {})).toBe(201);
    await eventually("the run to wait on the newer node", async () => {
      const { body } = await getJson<{ status: string }>(`${older.url}/v1/runs/rolling`);
      return body.status === "waiting";
    });
    newer.process.kill("SIGKILL");
    await newer.process.exited;
    // Once the dead node's lease lapsed, the run says so; it waits for its signal all the same.
    const asleep = await eventually("the run to tell its node is down", async () => {
      const { body } = await getJson<{ waitingOn?: { kind: string; reason: string } }>(
        `${older.url}/v1/runs/rolling`,
      );
      return body.waitingOn?.reason.includes("its node newer is down") ? body : undefined;
    });
    expect(asleep.waitingOn?.kind).toBe("signal");
    // Sent through the older node, which stores it but cannot run the workflow.
    const signalled = await fetch(`${older.url}/v1/runs/rolling/signals/decision`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ payload: "go" }),
    });
    expect(signalled.status).toBe(202);
    await sleep(2 * 1_500); // the older node scans, finds the run due and orphaned, and must pass
    const { rows } = await sql.query<{ owner: string | null }>(
      "SELECT owner FROM runs WHERE run_id = 'rolling'",
    );
    expect(rows[0]!.owner).not.toBe("older");
    const { body: stuck } = await getJson<{ waitingOn?: { kind: string; reason: string } }>(
      `${older.url}/v1/runs/rolling`,
    );
    expect(stuck.waitingOn).toMatchObject({ kind: "lease" });
    expect(stuck.waitingOn?.reason).toContain("its node newer stopped renewing its lease at");
    expect(stuck.waitingOn?.reason).toContain("waits for a node that runs workflow approval");
    const replacement = await startNode("newer-2", 1_500);
    const run = await eventually(
      "a node with the workflow to take the run over and finish it",
      async () => {
        const { body } = await getJson<{ status: string; output?: unknown }>(
          `${older.url}/v1/runs/rolling`,
        );
        return body.status === "completed" ? body : undefined;
      },
      15_000,
    );
    expect(run.output).toEqual({ decision: "go", decidedOn: "newer-2" });
    expect(replacement.process.isRunning).toBe(true);
  });
});
