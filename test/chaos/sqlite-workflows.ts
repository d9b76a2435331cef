/**
 * The workflow of the SQLite nemesis (chaos-sqlite.test.ts), loaded by `baton server --workflows`.
 * Every execution of its command appends `<pid> <idempotencyKey>` to $CHAOS_EFFECTS_FILE, so the
 * test sees which server process executed what.
 */
import { appendFileSync } from "node:fs";
import { local, service, workflow } from "../../src/index.js";

const file = process.env.CHAOS_EFFECTS_FILE ?? "";

export const counter = service(
  "counter",
  local({
    hit: async (_input: unknown, meta: { idempotencyKey: string }) => {
      // The step's own work: long enough that a second server, if it ran, would overlap it.
      await new Promise((r) => setTimeout(r, 50));
      if (file) appendFileSync(file, `${process.pid} ${meta.idempotencyKey}\n`);
      return { by: process.pid };
    },
  }),
);

export const tick = workflow("tick", async (ctx, input: { napMs: number }) => {
  const first = await ctx.call(counter, "hit", {});
  await ctx.sleep(input.napMs);
  const second = await ctx.call(counter, "hit", {});
  return { first, second };
});
