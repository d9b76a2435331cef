import { z } from "zod";
import {
  StepFailedError,
  local,
  queue,
  service,
  workflow,
  type Baton,
  type BatonOptions,
} from "../../src/index.js";
import { silentLogger } from "../../src/common/index.js";
import { createServer, type BatonServer, type ServerOptions } from "../../src/server/index.js";
import { batonFixture } from "../support/open-baton.js";
import { stuckRollbackWorkflow } from "../support/stuck-rollback.js";

/** Workflows and services the server tests drive over HTTP. */

export const greeter = service(
  "greeter",
  local({ greet: async (input: { name: string }) => ({ greeting: `hello ${input.name}` }) }),
);

/** Queue-served: its commands wait for workers polling over HTTP. */
export const payments = service("payments", queue({ leaseMs: 5_000 }));

export const greet = workflow(
  "greet",
  async (ctx, input: { name: string }) => ctx.call(greeter, "greet", input),
  { input: z.object({ name: z.string().min(1) }) },
);

export const approval = workflow("approval", async (ctx, _input: unknown) => {
  await ctx.step("submit", () => ({ submitted: true }));
  return { decision: await ctx.waitForSignal("decision") };
});

export const doomed = workflow("doomed", async (ctx) => {
  await ctx.step("ok", () => 1);
  return ctx.step("explode", () => {
    throw new StepFailedError("it broke for good", { code: "BROKEN" });
  });
});

export const napper = workflow("napper", async (ctx, input: { ms: number }) => {
  await ctx.sleep(input.ms);
  return { slept: input.ms };
});

export const charge = workflow("charge", async (ctx, input: { orderId: string; cents: number }) =>
  ctx.call(payments, "charge", input),
);

/** Holds something, stumbles once, then fails for good: a retry and a compensation. */
export const saga = workflow("saga", async (ctx) => {
  await ctx.step("reserve", () => ({ held: true }), {
    compensate: () => ctx.step("release", () => ({ released: true })),
  });
  let attempts = 0;
  await ctx.step(
    "wobble",
    () => {
      attempts += 1;
      if (attempts === 1) throw new Error("a blip");
      return { attempts };
    },
    { retry: { maxAttempts: 3, initialIntervalMs: 1, jitter: 0 } },
  );
  return ctx.step("explode", () => {
    throw new StepFailedError("out of stock", { code: "OUT_OF_STOCK" });
  });
});

export const stuckRollback = stuckRollbackWorkflow("stuckRollback");

export const WORKFLOWS = [greet, approval, doomed, napper, charge, saga, stuckRollback];
export const SERVICES = [greeter, payments];

/** One Baton on a temp database per test, with a server in front; both closed afterwards. */
export function serverFixture() {
  const batons = batonFixture();
  const servers: BatonServer[] = [];
  return {
    async open(
      options: ServerOptions = {},
      batonOptions: Omit<BatonOptions, "db"> = {},
    ): Promise<{ baton: Baton; server: BatonServer }> {
      const baton = await batons.open({
        db: batons.db(),
        workflows: WORKFLOWS,
        services: SERVICES,
        logger: silentLogger,
        ...batonOptions,
      });
      const server = createServer(baton.engine, {
        logger: false,
        webhooks: baton.webhooks,
        processMetrics: false,
        runRefreshMs: 200,
        ...options,
      });
      servers.push(server);
      return { baton, server };
    },
    /** The same, listening on an ephemeral loopback port. */
    async listen(
      options: ServerOptions = {},
      batonOptions: Omit<BatonOptions, "db"> = {},
    ): Promise<{ baton: Baton; server: BatonServer; url: string }> {
      const opened = await this.open({ port: 0, ...options }, batonOptions);
      return { ...opened, url: await opened.server.listen() };
    },
    async cleanup(): Promise<void> {
      for (const server of servers.splice(0)) await server.close();
      await batons.cleanup();
    },
  };
}
