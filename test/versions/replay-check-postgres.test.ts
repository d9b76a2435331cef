/**
 * `baton replay-check` against PostgreSQL, as a process: runs made by an engine on a fresh
 * database, then checked through a read-only session.
 */
import { expect, it } from "vitest";
import { Baton, silentLogger } from "../../src/index.js";
import { openStore } from "../../src/store/index.js";
import { runBaton } from "../demo/harness/cli.js";
import { describePostgres, freshDatabase } from "../support/postgres.js";
import { waitFor } from "../support/wait-for.js";
import { orderWorkflow } from "./fixtures/order.js";

/** Every run row and journal, read with the store itself (an engine would resume the runs). */
async function readRuns(url: string): Promise<unknown> {
  const store = openStore(url);
  try {
    const { runs } = await store.listRuns({ limit: 100 });
    return await Promise.all(
      runs.map(async (r) => ({ ...r, journal: await store.readJournal(r.runId) })),
    );
  } finally {
    await store.close();
  }
}

describePostgres("replay-check on PostgreSQL", () => {
  it("names the runs past the change through a read-only session and leaves the database as it was", async () => {
    const db = await freshDatabase();
    try {
      const baton = await Baton.open({
        db: db.url,
        workflows: [orderWorkflow("never")],
        logger: silentLogger,
      });
      for (const runId of ["p-1", "p-2", "p-3"])
        await baton.start("order", { id: runId }, { runId });
      await baton.start("order", { id: "g-1", gated: true }, { runId: "g-1" });
      await waitFor(async () => (await baton.list({ status: "waiting" })).runs.length === 4);
      await baton.close();
      const before = await readRuns(db.url);

      const [broken, patched] = await Promise.all([
        runBaton(
          [
            "replay-check",
            "--db",
            db.url,
            "--workflows",
            "test/versions/fixtures/order-changed.ts",
          ],
          { timeoutMs: 60_000 },
        ),
        runBaton(
          [
            "replay-check",
            "--db",
            db.url,
            "--workflows",
            "test/versions/fixtures/order-patched.ts",
          ],
          { timeoutMs: 60_000 },
        ),
      ]);
      expect(broken.code, broken.stderr).toBe(1);
      expect([...broken.stdout.matchAll(/^run (\S+) /gm)].map((m) => m[1]).sort()).toEqual([
        "p-1",
        "p-2",
        "p-3",
      ]);
      expect(broken.stderr).toContain("PostgreSQL session read-only");
      expect(patched.code, patched.stderr).toBe(0);

      expect(await readRuns(db.url)).toEqual(before);
    } finally {
      await db.drop();
    }
  });
});
