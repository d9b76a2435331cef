/**
 * The engine process of the ctx.emit crash test (see emit-crash.test.ts).
 *
 *   node --import tsx test/crash/emit-child.ts <dbPath> <killAtCommit|0>
 *
 * Runs three workflows that each do a step and emit an event, three times; every event triggers a
 * run of `counter`. With killAtCommit > 0 the process SIGKILLs itself the n-th time a journal
 * commit is durable. Prints DONE <json of outputs> at the end.
 */
import { Baton, silentLogger, workflow } from "../../src/index.js";

const [dbPath, killAtArg = "0"] = process.argv.slice(2);
if (!dbPath) {
  process.stderr.write("usage: emit-child.ts <dbPath> <killAtCommit|0>\n");
  process.exit(2);
}
const killAt = Number(killAtArg);

const emitter = workflow("emitter", async (ctx) => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    await ctx.step(`work-${i}`, () => i);
    ids.push((await ctx.emit("work.done", { runId: ctx.runId, i })).id);
  }
  return ids;
});

const counter = workflow(
  "counter",
  async (ctx, input: { runId: string; i: number }) => ctx.step("count", () => input),
  { on: "work.done" },
);

let hits = 0;
const baton = await Baton.open({
  db: `sqlite:${dbPath}`,
  workflows: [emitter, counter],
  logger: silentLogger,
  ...(killAt > 0
    ? {
        faultInjector: (point: string) => {
          if (point === "after-journal-commit" && ++hits === killAt)
            process.kill(process.pid, "SIGKILL");
        },
      }
    : {}),
});
const runIds = ["e-1", "e-2", "e-3"];
await Promise.all(runIds.map((runId) => baton.start(emitter, undefined, { runId })));
const outputs: Record<string, unknown> = {};
for (const runId of runIds) outputs[runId] = await baton.result(runId);
const counted = await baton.list({ workflow: "counter", limit: 100 });
for (const run of counted.runs) outputs[run.runId] = (await baton.wait(run.runId)).status;
await baton.close();
process.stdout.write(`DONE ${JSON.stringify(outputs)}\n`);
