import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BatonClient } from "../../src/client/index.js";
import { ProcessGroup, type TestProcess } from "../demo/harness/processes.js";
import { tempDbUrl } from "../support/temp-db.js";
import { waitFor } from "../support/wait-for.js";
import { WebhookReceiver } from "./receiver.js";

const NODE = join(import.meta.dirname, "webhook-node.ts");

describe("webhook deliveries across a SIGKILL of the node", () => {
  const processes = new ProcessGroup();
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    await processes.killAll();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startNode(
    dbPath: string,
    name: string,
  ): Promise<{ node: TestProcess; client: BatonClient }> {
    const node = processes.startTs(name, NODE, [dbPath]);
    const [, url] = await node.waitForOutput(/LISTENING (\S+)/);
    return { node, client: new BatonClient({ url: url! }) };
  }

  it("a delivery being retried, killed in the middle of an attempt, is delivered after the restart", async () => {
    const db = tempDbUrl();
    cleanups.push(db.cleanup);
    const dbPath = db.path;
    // 1: 500 (a retry follows); 2: no answer, while the node is killed; then 200.
    const receiver = new WebhookReceiver((n) => (n === 1 ? 500 : n === 2 ? "hang" : 200));
    cleanups.push(() => receiver.close());
    const url = await receiver.listen();

    const first = await startNode(dbPath, "node-1");
    const subscription = await first.client.createSubscription({ topics: ["run.completed"], url });
    receiver.secret = subscription.secret;
    await first.client.startRun("ship", { order: "o-1" }, { runId: "o-1" });
    await waitFor(() => receiver.requests.length === 2, {
      what: "the second attempt under way",
      timeoutMs: 15_000,
    });
    first.node.kill("SIGKILL");
    expect(await first.node.exited).toMatchObject({ signal: "SIGKILL" });

    const second = await startNode(dbPath, "node-2");
    await waitFor(() => receiver.effects.size === 1, {
      what: "the delivery after the restart",
      timeoutMs: 20_000,
    });
    expect(receiver.requests.map((r) => r.status)).toEqual([500, 0, 200]);
    expect(new Set(receiver.requests.map((r) => r.id)).size).toBe(1);

    // The killed attempt left no record; the lease it held lapsed and made the third.
    const attempts = await waitFor(
      async () => {
        const listed = await second.client.subscriptionDeliveries(subscription.id);
        return listed[0]?.statusCode === 200 && listed;
      },
      { what: "the attempts listed" },
    );
    expect(attempts.map((a) => [a.attempt, a.statusCode])).toEqual([
      [3, 200],
      [1, 500],
    ]);
  });
});
