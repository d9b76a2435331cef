/**
 * The orchestrator process of the HTTP figures (http-starts.ts, queue-round-trip.ts):
 *
 *   node --import tsx bench/scale/api-server-child.ts <dbPath>
 *
 * Opens Baton on `sqlite:<dbPath>` (the default durability: every group commit fsyncs) with two
 * workflows — `orderSaga` (W1's three in-process steps), started over HTTP by the parent, and
 * `queueEcho`, whose one operation is a command to the queue-served service `bench-echo` — and
 * serves the API on a free loopback port. On "round-trips" it runs queueEcho runs one at a
 * time, in process, and reports when each started and when its result was held.
 */
import { Baton, queue, service, workflow } from "../../src/index.js";
import { LogTally } from "../logger.js";
import { orderSagaWorkflow, stepBodies } from "../workloads/order-saga.js";
import { ECHO_COMMAND, ECHO_SERVICE, preciseNow, type ApiServerMessage, type RoundTrip } from "./api-protocol.js";

const [dbPath] = process.argv.slice(2);
if (!dbPath || !process.send) {
  process.stderr.write("usage (forked, with IPC): api-server-child.ts <dbPath>\n");
  process.exit(2);
}
const send = (message: ApiServerMessage): void => void process.send!(message);

const echo = service(ECHO_SERVICE, queue());
const queueEcho = workflow("queueEcho", async (ctx, input: { i: number }) => {
  const reply = await ctx.call(echo, ECHO_COMMAND, { i: input.i, note: "a small command payload" });
  return { reply };
});
const orderSaga = orderSagaWorkflow(stepBodies({ executed: 0 }));

const baton = await Baton.open({
  db: `sqlite:${dbPath}`,
  workflows: [orderSaga, queueEcho],
  services: [echo],
  logger: new LogTally((line) => send({ type: "problem", line })).logger,
});
// No request log: it would cost the server as much as the requests being measured.
const { url } = await baton.serve({ port: 0, logger: false });
send({ type: "listening", url });

async function roundTrips(runs: number, warmup: number): Promise<void> {
  const trips: RoundTrip[] = [];
  const problems: string[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    const runId = i < warmup ? `echo-w-${i}` : `echo-m-${i - warmup}`;
    const startAt = preciseNow();
    await baton.start(queueEcho, { i }, { runId });
    try {
      const output = await baton.result<{ reply?: { i?: unknown } }>(runId);
      if (output.reply?.i !== i && problems.length < 5) problems.push(`run ${runId} completed with ${JSON.stringify(output)}`);
    } catch (e) {
      if (problems.length < 5) problems.push(`run ${runId} did not complete: ${e instanceof Error ? e.message : String(e)}`);
    }
    const resultAt = preciseNow();
    if (i >= warmup) trips.push({ runId, startAt, resultAt });
    if ((i + 1) % 10 === 0) send({ type: "round-trip-progress", done: i + 1, total: warmup + runs });
  }
  send({ type: "round-trips-done", trips, problems });
}

process.on("message", (message: ApiServerMessage) => {
  if (message.type === "round-trips") void roundTrips(message.runs, message.warmup);
  else if (message.type === "close") void baton.close().then(() => process.exit(0));
});
