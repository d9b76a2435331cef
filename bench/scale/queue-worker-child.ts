/**
 * The worker process of the queue round-trip figure (see queue-round-trip.ts):
 *
 *   node --import tsx bench/scale/queue-worker-child.ts <baseUrl>
 *
 * A `baton/worker` worker for the service `bench-echo`, polling the orchestrator over HTTP with
 * the SDK's defaults. It notes when each run's command reached its handler, and hands those
 * times to the parent on "timings".
 */
import { worker } from "../../src/worker/index.js";
import { LogTally } from "../logger.js";
import { ECHO_COMMAND, ECHO_SERVICE, preciseNow, type WorkerMessage } from "./api-protocol.js";

const [url] = process.argv.slice(2);
if (!url || !process.send) {
  process.stderr.write("usage (forked, with IPC): queue-worker-child.ts <baseUrl>\n");
  process.exit(2);
}
const send = (message: WorkerMessage): void => void process.send!(message);

/** runId → when its command reached the handler (preciseNow()); the first delivery's. */
const handledAt: Record<string, number> = {};
let deliveries = 0;

const echo = worker({
  url,
  service: ECHO_SERVICE,
  logger: new LogTally((line) => send({ type: "problem", line })).logger,
  handlers: {
    [ECHO_COMMAND]: (input: { i: number; note: string }, task) => {
      handledAt[task.runId] ??= preciseNow();
      deliveries++;
      return input;
    },
  },
});
await echo.start();
send({ type: "ready" });

process.on("message", (message: WorkerMessage) => {
  if (message.type === "timings") send({ type: "timings-are", handledAt, deliveries });
  else if (message.type === "stop") void echo.stop({ abortAfterMs: 2_000 }).then(() => process.exit(0));
});
