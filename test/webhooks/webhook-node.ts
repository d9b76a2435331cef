/**
 * One incarnation of a Baton node for the webhook restart test (webhook-restart.test.ts):
 *
 *   node --import tsx test/webhooks/webhook-node.ts <dbPath>
 *
 * Opens Baton on the SQLite file, with fast webhook retries and a short lease, serves the API on
 * a free loopback port and prints `LISTENING <url>`. The test kills it with SIGKILL.
 */
import { Baton, workflow } from "../../src/index.js";

const [dbPath] = process.argv.slice(2);
if (!dbPath) {
  process.stderr.write("usage: webhook-node.ts <dbPath>\n");
  process.exit(2);
}

const ship = workflow("ship", async (ctx, input: { order: string }) =>
  ctx.step("pack", () => ({ packed: input.order })),
);

const baton = await Baton.open({
  db: `sqlite:${dbPath}`,
  workflows: [ship],
  webhooks: {
    pollMs: 100,
    // A lease shorter than the default, so the redelivery after a kill mid-attempt comes soon.
    leaseMs: 1_500,
    requestTimeoutMs: 1_000,
    retry: { initialIntervalMs: 100, maxIntervalMs: 300, jitter: 0.2 },
  },
});
const { url } = await baton.serve({ port: 0 });
process.stdout.write(`LISTENING ${url}\n`);
