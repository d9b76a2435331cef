/**
 * User events and triggers on two Baton nodes sharing one PostgreSQL database: each node a real
 * process (cluster-node.ts) serving the HTTP API; one is SIGKILLed mid-stream while publishers
 * keep going against the other. Exactly one run per event id is read from the database.
 */
import { join } from "node:path";
import type pg from "pg";
import { afterEach, beforeEach, expect, it } from "vitest";
import { Random } from "../chaos/harness/random.js";
import { describePostgres, type TestDatabase } from "../support/postgres.js";
import { closeClusterDatabase, openClusterDatabase } from "./cluster-database.js";
import { ProcessGroup, REPO, eventually, type TestProcess } from "../demo/harness/processes.js";

const NODE_SCRIPT = join(REPO, "test", "cluster", "cluster-node.ts");
const LEASE_MS = 2_000;

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

async function startNode(id: string): Promise<Node> {
  const process = processes.startTs(`node ${id}`, NODE_SCRIPT, [db.url, id, String(LEASE_MS)]);
  const [, url] = await process.waitForOutput(/READY (http:\/\/\S+)/, 60_000);
  return { id, process, url: url! };
}

/** POST /v1/events; the HTTP status, or undefined when the node cannot be reached. */
async function publish(
  node: Node,
  body: { topic: string; id?: string; data?: unknown },
): Promise<number | undefined> {
  try {
    const response = await fetch(`${node.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined; // killed under us (or the answer was lost): retry, with the same id
  }
}

describePostgres("events on several nodes", () => {
  it("1,000 publishes (200 repeated ids) through 2 nodes, one SIGKILLed mid-stream: exactly one triggered run per distinct id", async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const random = new Random(seed);
    const context = `seed ${seed}`;
    const nodes = [await startNode("a"), await startNode("b")];
    const distinct = Array.from({ length: 800 }, (_, i) => `o-${i}`);
    const ids = [...distinct, ...Array.from({ length: 200 }, () => random.pick(distinct))];
    for (let i = ids.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }

    const answers: number[] = [];
    let next = 0;
    let published = 0;
    const killAt = random.int(300, 600);
    const publisher = async (): Promise<void> => {
      while (next < ids.length) {
        const index = next++;
        const id = ids[index]!;
        // Alternate nodes; on a connection error go to the other node with the same id.
        for (let attempt = 0; ; attempt++) {
          const node = nodes[(index + attempt) % nodes.length]!;
          if (!node.process.isRunning) continue;
          const status = await publish(node, {
            topic: "order.placed",
            id,
            data: { orderId: id },
          });
          if (status !== undefined) {
            answers.push(status);
            break;
          }
          expect(attempt, `${context}: event ${id} never published`).toBeLessThan(20);
        }
        if (++published === killAt) nodes[0]!.process.kill("SIGKILL");
      }
    };
    await Promise.all(Array.from({ length: 16 }, () => publisher()));

    expect(answers, context).toHaveLength(1_000);
    expect(
      answers.every((s) => s === 202 || s === 200),
      context,
    ).toBe(true);
    // At least the repeats answered 200; a publish whose answer was lost and was retried may too.
    expect(answers.filter((s) => s === 200).length, context).toBeGreaterThanOrEqual(200);

    const { rows: events } = await sql.query<{ n: number; keys: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT event_key)::int AS keys FROM events WHERE type = 'order.placed'`,
    );
    expect(events[0], context).toEqual({ n: 800, keys: 800 });
    const { rows: runs } = await sql.query<{ run_id: string }>(
      "SELECT run_id FROM runs WHERE workflow = 'fulfil'",
    );
    expect(runs, context).toHaveLength(800);
    expect(new Set(runs.map((r) => r.run_id)), context).toEqual(
      new Set(distinct.map((id) => `order.placed:${id}`)),
    );
    // Runs the killed node had started are taken over by the survivor once its lease lapses.
    await eventually(
      `${context}: every triggered run completed`,
      async () => {
        const { rows } = await sql.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM runs WHERE workflow = 'fulfil' AND status = 'completed'",
        );
        return rows[0]!.n === 800;
      },
      LEASE_MS + 20_000,
    );
  }, 90_000);

  it("a run waiting on one node resumes on an event published through the other", async () => {
    const [a, b] = [await startNode("a"), await startNode("b")];
    const start = await fetch(`${b.url}/v1/workflows/settle/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runId: "settle-1", input: { orderId: "o-1" } }),
    });
    expect(start.status).toBe(201);
    await eventually(
      "the run to wait for its event",
      async () => {
        const { rows } = await sql.query<{ waiting_on: string | null }>(
          "SELECT waiting_on FROM runs WHERE run_id = 'settle-1'",
        );
        return rows[0]?.waiting_on?.includes('"kind":"event"') === true;
      },
      10_000,
    );
    expect(await publish(a, { topic: "payment.settled", data: { orderId: "o-2", cents: 2 } })).toBe(
      202,
    );
    expect(await publish(a, { topic: "payment.settled", data: { orderId: "o-1", cents: 1 } })).toBe(
      202,
    );
    const run = await eventually(
      "the run to complete",
      async () => {
        const response = await fetch(`${a.url}/v1/runs/settle-1`);
        const body = (await response.json()) as { status: string; output?: unknown };
        return body.status === "completed" ? body : undefined;
      },
      10_000,
    );
    expect(run.output).toEqual({ paid: 1, on: "b" });
  }, 60_000);
});
