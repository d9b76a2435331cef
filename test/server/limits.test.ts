import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/index.js";
import { createServer, type BatonServer } from "../../src/server/index.js";
import { batonFixture } from "../support/open-baton.js";

/** The server on a real loopback port, spoken to with real fetch. */

const inbox = workflow("inbox", async (ctx) => {
  await ctx.step("open", () => true);
  return ctx.waitForSignal("close");
});

function countSignals(dbUrl: string, runId: string): number {
  const db = new Database(dbUrl.slice("sqlite:".length), { readonly: true });
  try {
    return (
      db.prepare("SELECT count(*) AS n FROM signals WHERE run_id = ?").get(runId) as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

describe("limits over HTTP", () => {
  const fixture = batonFixture();
  const servers: BatonServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    await fixture.cleanup();
  });

  it("answers 409 TOO_MANY_SIGNALS past a run's unconsumed signals and writes nothing", async () => {
    const db = fixture.db();
    const baton = await fixture.open({ db, workflows: [inbox], limits: { maxSignals: 2 } });
    const server = createServer(baton.engine, { logger: false, processMetrics: false, port: 0 });
    servers.push(server);
    const url = await server.listen();
    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    expect((await post("/v1/workflows/inbox/runs", { runId: "in-1" })).status).toBe(201);
    expect((await post("/v1/runs/in-1/signals/note", { payload: 1 })).status).toBe(202);
    expect((await post("/v1/runs/in-1/signals/note", { payload: 2 })).status).toBe(202);
    const refused = await post("/v1/runs/in-1/signals/note", { payload: 3 });
    expect(refused.status).toBe(409);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("TOO_MANY_SIGNALS");
    expect(body.error.message).toContain("in-1");
    expect(countSignals(db, "in-1")).toBe(2);

    // A cancel is Baton's own signal: it is never refused by the limit.
    expect((await post("/v1/runs/in-1/cancel", { reason: "full" })).status).toBe(202);
    const run = (await (await fetch(`${url}/v1/runs/in-1`)).json()) as {
      status: string;
      generation: number;
    };
    expect(run).toMatchObject({ generation: 1 });
  });

  it("answers 413 INPUT_TOO_LARGE for a start input past the output limit, and makes no run", async () => {
    const baton = await fixture.open({
      db: fixture.db(),
      workflows: [inbox],
      limits: { maxOutputBytes: 1_000 },
    });
    const server = createServer(baton.engine, { logger: false, processMetrics: false, port: 0 });
    servers.push(server);
    const url = await server.listen();
    const refused = await fetch(`${url}/v1/workflows/inbox/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runId: "big-1", input: { pad: "x".repeat(2_000) } }),
    });
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      "INPUT_TOO_LARGE",
    );
    expect((await fetch(`${url}/v1/runs/big-1`)).status).toBe(404);
  });
});
