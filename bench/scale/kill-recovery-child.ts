/**
 * The engine process of the kill-and-recover figure (see kill-recovery.ts):
 *
 *   node --import tsx bench/scale/kill-recovery-child.ts <dbPath> start <runs> <concurrency> <sleepMs>
 *   node --import tsx bench/scale/kill-recovery-child.ts <dbPath> resume
 *
 * `start` starts the runs and reports once every start has returned (the parent then kills
 * it); `resume` only opens Baton, whose startup recovery picks the runs up, and stays open
 * until the parent says "close".
 */
import { Baton, workflow } from "../../src/index.js";
import { LogTally } from "../logger.js";
import type { RecoveryMessage } from "./kill-recovery.js";

const [dbPath, mode, runsArg = "0", concurrencyArg = "1", sleepArg = "2000"] = process.argv.slice(2);
if (!dbPath || (mode !== "start" && mode !== "resume") || !process.send) {
  process.stderr.write("usage (forked, with IPC): kill-recovery-child.ts <dbPath> start|resume [runs concurrency sleepMs]\n");
  process.exit(2);
}
const send = (message: RecoveryMessage): void => void process.send!(message);

const napper = workflow("napper", async (ctx, input: { i: number; sleepMs: number }) => {
  const before = await ctx.step("prepare", async () => ({ step: "prepare", i: input.i, ok: true }));
  await ctx.sleep(input.sleepMs);
  const first = await ctx.step("finishA", async () => ({ step: "finishA", i: input.i, ok: true }));
  const second = await ctx.step("finishB", async () => ({ step: "finishB", i: input.i, ok: true }));
  return { before, first, second };
});

const openStartedAt = performance.now();
const baton = await Baton.open({
  db: `sqlite:${dbPath}`,
  workflows: [napper],
  logger: new LogTally((line) => send({ type: "problem", line })).logger,
});
send({ type: "open", openMs: performance.now() - openStartedAt, at: Date.now() });

process.on("message", (message: RecoveryMessage) => {
  if (message.type === "close") void baton.close().then(() => process.exit(0));
});

if (mode === "start") {
  const runs = Number(runsArg);
  const sleepMs = Number(sleepArg);
  const every = Math.max(1, Math.floor(runs / 100));
  let next = 0;
  let started = 0;
  const startedAt = performance.now();
  const starter = async (): Promise<void> => {
    while (next < runs) {
      const i = next++;
      await baton.start(napper, { i, sleepMs }, { runId: `nap-${i}` });
      if (++started % every === 0) send({ type: "progress", started });
    }
  };
  await Promise.all(Array.from({ length: Number(concurrencyArg) }, () => starter()));
  send({ type: "started", ms: performance.now() - startedAt });
}
