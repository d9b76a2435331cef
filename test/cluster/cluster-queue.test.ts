/**
 * Several nodes, workers over HTTP, and what a node's death or a duplicate node id costs. Nodes are
 * real processes (cluster-node.ts) on one PostgreSQL database; the workers are loops of long polls
 * in this test, speaking the worker API over loopback.
 */
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { PostgresStore } from "../../src/store/index.js";
import { describePostgres, type TestDatabase } from "../support/postgres.js";
import { closeClusterDatabase, openClusterDatabase } from "./cluster-database.js";
import { ProcessGroup, REPO, eventually, type TestProcess } from "../demo/harness/processes.js";

const NODE_SCRIPT = join(REPO, "test", "cluster", "cluster-node.ts");
const TERMINAL = ["completed", "compensated", "failed", "cancelled"];

interface Node {
  id: string;
  process: TestProcess;
  url: string;
}

interface Task {
  taskId: string;
  runId: string;
  idempotencyKey: string;
  attempt: number;
  input: unknown;
}

let db: TestDatabase;
let sql: pg.Pool;
const processes = new ProcessGroup();
const workers: Worker[] = [];

beforeEach(async () => {
  ({ db, sql } = await openClusterDatabase());
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await processes.killAll();
  await closeClusterDatabase({ db, sql });
});

function launchNode(id: string, leaseMs: number): TestProcess {
  return processes.startTs(`node ${id}`, NODE_SCRIPT, [db.url, id, String(leaseMs)]);
}

async function startNode(id: string, leaseMs: number): Promise<Node> {
  const process = launchNode(id, leaseMs);
  const [, url] = await process.waitForOutput(/READY (http:\/\/\S+)/, 60_000);
  return { id, process, url: url! };
}

async function post(url: string, body: unknown, timeoutMs = 10_000): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return (await response.json()) as T;
}

async function startRun(node: Node, workflow: string, runId: string, input: unknown) {
  const response = await post(`${node.url}/v1/workflows/${workflow}/runs`, { runId, input });
  await response.arrayBuffer();
  expect(response.status, `start of ${runId} on ${node.id}`).toBe(201);
}

/**
 * A worker of one service: long polls the given nodes in turn (a dead one's poll fails, and it
 * goes on with the next), records each task in test_executions, then completes it through any
 * live node — or, with `hold`, keeps it.
 */
class Worker {
  private stopped = false;
  private readonly loop: Promise<void>;
  readonly held: Task[] = [];

  constructor(
    readonly workerId: string,
    private readonly service: string,
    private readonly nodes: () => Node[],
    private readonly options: { hold?: boolean; waitSeconds?: number } = {},
  ) {
    this.loop = this.run();
    workers.push(this);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private alive(): Node[] {
    return this.nodes().filter((n) => n.process.isRunning);
  }

  private async run(): Promise<void> {
    let turn = 0;
    while (!this.stopped) {
      const alive = this.alive();
      const node = alive[turn++ % Math.max(1, alive.length)];
      if (!node) return;
      let tasks: Task[];
      try {
        const response = await post(
          `${node.url}/v1/services/${this.service}/tasks/poll`,
          { workerId: this.workerId, max: 5, waitSeconds: this.options.waitSeconds ?? 1 },
          15_000,
        );
        if (response.status !== 200) {
          await response.arrayBuffer();
          continue;
        }
        tasks = ((await response.json()) as { tasks: Task[] }).tasks;
      } catch {
        continue; // the node died under the poll: the next one
      }
      for (const task of tasks) {
        if (this.options.hold) {
          this.held.push(task);
          continue;
        }
        await sql.query(
          "INSERT INTO test_executions (run_id, step, idempotency_key, node_id, at) VALUES ($1, 'charge', $2, $3, $4)",
          [task.runId, task.idempotencyKey, this.workerId, Date.now()],
        );
        await this.complete(task, turn);
      }
    }
  }

  private async complete(task: Task, turn: number): Promise<void> {
    for (let i = 0; i < 6; i++) {
      const alive = this.alive();
      const node = alive[(turn + i) % Math.max(1, alive.length)];
      if (!node) return;
      try {
        const response = await post(
          `${node.url}/v1/tasks/${encodeURIComponent(task.taskId)}/complete`,
          {
            output: { charged: task.idempotencyKey, attempt: task.attempt },
          },
        );
        await response.arrayBuffer();
        // 409: delivered again meanwhile; the later delivery's reply settles it.
        if (response.status === 200 || response.status === 409) return;
      } catch {
        // that node died: another one
      }
    }
  }
}

async function terminalCount(): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM runs WHERE status = ANY($1)",
    [TERMINAL],
  );
  return rows[0]!.n;
}

describePostgres("workers and several nodes", () => {
  it("a node SIGKILLed with deliveries in hand costs its node lease, not the task lease: every run terminal within node lease + 10 s", async () => {
    const nodeLeaseMs = 2_000;
    const nodes = await Promise.all(["q1", "q2", "q3"].map((id) => startNode(id, nodeLeaseMs)));
    const victim = nodes[2]!;
    const orders = Array.from({ length: 45 }, (_, i) => ({ orderId: `q-${i}` }));
    await Promise.all(orders.map((o, i) => startRun(nodes[i % 3]!, "queuedOrder", o.orderId, o)));
    await eventually("every charge to be queued", async () => {
      const { rows } = await sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM tasks WHERE service = 'billing' AND status = 'queued'",
      );
      return rows[0]!.n === orders.length;
    });

    // The victim's answers to long polls that its death will cut off: the deliveries it claimed
    // for them (its own claim, under its node id) never reach a worker.
    const victimStore = new PostgresStore({ connectionString: db.url, poolSize: 1, listen: false });
    let lost: number;
    try {
      const claimed = await victimStore.claimTasks({
        service: "billing",
        workerId: "answer-never-sent",
        max: 15,
        now: Date.now(),
        nodeId: victim.id,
      });
      lost = claimed.length;
    } finally {
      await victimStore.close();
    }
    expect(lost).toBe(15);

    // Three workers polling every node in turn; they finish the rest and long-poll the victim.
    for (let i = 0; i < 3; i++) new Worker(`billing-${i}`, "billing", () => nodes);
    await eventually(
      "the deliveries not in the victim's hands to finish",
      async () => (await terminalCount()) >= orders.length - lost,
      30_000,
    );
    victim.process.kill("SIGKILL");
    await victim.process.exited;
    const killedAt = Date.now();

    await eventually(
      "every run terminal",
      async () => (await terminalCount()) === orders.length,
      30_000,
      50,
    );
    const settledMs = Date.now() - killedAt;
    console.log(
      `node death: ${lost} deliveries in the dead node's hands (task lease 30000 ms); every run ` +
        `terminal ${settledMs} ms after the SIGKILL (node lease ${nodeLeaseMs} ms)`,
    );
    expect(settledMs).toBeLessThanOrEqual(nodeLeaseMs + 10_000);

    const { rows } = await sql.query<{ status: string; n: number }>(
      "SELECT status, count(*)::int AS n FROM runs GROUP BY status",
    );
    expect(rows).toEqual([{ status: "completed", n: orders.length }]);
    // Delivered again as attempt 2 under the same idempotency key, through a live node.
    const { rows: again } = await sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM tasks WHERE service = 'billing' AND attempt = 2 AND node_id IS DISTINCT FROM $1",
      [victim.id],
    );
    expect(again[0]!.n).toBe(lost);
    const { rows: keys } = await sql.query<{ n: number }>(
      "SELECT count(DISTINCT idempotency_key)::int AS n FROM test_executions",
    );
    expect(keys[0]!.n).toBe(orders.length);
  }, 120_000);

  it("every node reports the same workers, queue depth, in-flight and outcomes, and a run's waitingOn agrees through the other node", async () => {
    const [a, b] = await Promise.all([startNode("sa", 3_000), startNode("sb", 3_000)]);
    // The worker polls node a only, and keeps what it gets.
    const worker = new Worker("billing-on-a", "billing", () => [a], { hold: true });
    for (let i = 0; i < 3; i++)
      await startRun(b, "queuedOrder", `held-${i}`, { orderId: `held-${i}` });
    for (let i = 0; i < 2; i++) await startRun(a, "audited", `unaudited-${i}`, { key: `k-${i}` });
    await eventually("the worker to hold the three charges", () => worker.held.length === 3);

    // One charge completes (through node a); the run that records it lives on node b.
    const first = worker.held[0]!;
    const completed = await post(`${a.url}/v1/tasks/${encodeURIComponent(first.taskId)}/complete`, {
      output: { ok: true },
    });
    expect(completed.status).toBe(200);

    interface ServiceRow {
      name: string;
      workers: number;
      queueDepth: number;
      inFlight: number;
      completed: number;
      failures: number;
    }
    const view = async (node: Node): Promise<Record<string, Omit<ServiceRow, "name">>> => {
      const { services } = await getJson<{ services: ServiceRow[] }>(`${node.url}/v1/services`);
      return Object.fromEntries(
        services
          .filter((s) => s.name === "billing" || s.name === "audit")
          .map((s) => [
            s.name,
            {
              workers: s.workers,
              queueDepth: s.queueDepth,
              inFlight: s.inFlight,
              completed: s.completed,
              failures: s.failures,
            },
          ]),
      );
    };
    const expected = {
      audit: { workers: 0, queueDepth: 2, inFlight: 0, completed: 0, failures: 0 },
      billing: { workers: 1, queueDepth: 0, inFlight: 2, completed: 1, failures: 0 },
    };
    let seen: Awaited<ReturnType<typeof view>>[] = [];
    const askedAt = Date.now();
    await eventually(
      "both nodes to report the same services",
      async () => {
        seen = await Promise.all([view(a), view(b)]);
        return seen.every((onNode) => isDeepStrictEqual(onNode, expected));
      },
      15_000,
    ).catch(() => undefined); // the comparison below tells what differs
    expect(seen).toEqual([expected, expected]);
    console.log(`services view: both nodes agreed ${Date.now() - askedAt} ms after the completion`);

    // Runs waiting on a queued command, read through either node (held-1 is node b's, its
    // worker polled node a only; unaudited-0 is node a's): both nodes tell the same.
    const waitingOn = async (node: Node, runId: string) =>
      (
        await getJson<{ waitingOn?: { kind: string; workers?: number; queueDepth?: number } }>(
          `${node.url}/v1/runs/${runId}`,
        )
      ).waitingOn;
    for (const node of [a, b]) {
      expect(await waitingOn(node, "unaudited-0")).toMatchObject({
        kind: "task",
        workers: 0,
        queueDepth: 2,
      });
      expect(await waitingOn(node, "held-1")).toMatchObject({
        kind: "task",
        workers: 1,
        queueDepth: 0,
      });
    }
  }, 90_000);

  it("a second process started with a live node's id is refused with NODE_ID_IN_USE, and the first keeps running", async () => {
    const leaseMs = 2_000;
    const first = await startNode("twin", leaseMs);
    const second = launchNode("twin", leaseMs);
    const exit = await second.exited;
    expect(exit.code).not.toBe(0);
    expect(second.output).toContain("NODE_ID_IN_USE");
    expect(second.output).not.toContain("READY");
    expect(first.process.isRunning).toBe(true);
    // The first still serves and executes runs.
    await startRun(first, "approval", "twin-run", {});
    await eventually("the run to wait on the first twin", async () => {
      const { rows } = await sql.query<{ owner: string; status: string }>(
        "SELECT owner, status FROM runs WHERE run_id = 'twin-run'",
      );
      return rows[0]?.status === "waiting" && rows[0].owner === "twin";
    });
    // Once it is gone and its lease lapsed, the node id can be taken again.
    first.process.kill("SIGKILL");
    await first.process.exited;
    const again = await startNode("twin", leaseMs);
    expect(again.process.isRunning).toBe(true);
  }, 90_000);
});
