/**
 * The files of the application the package test installs Baton into: what a user writes after
 * `npm install baton`, in JavaScript (app.mjs) and in TypeScript (app.ts).
 */

export const APP_PACKAGE_JSON = {
  name: "baton-package-test-app",
  private: true,
  type: "module",
  // npm 11 asks a project to approve the install scripts of its dependencies.
  allowScripts: { "better-sqlite3": true, esbuild: true },
};

/** Strict TypeScript as a Node ESM project sets it up; lib checks included, to see Baton's own. */
export const APP_TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    types: ["node"],
    noEmit: true,
  },
  files: ["app.ts"],
};

/**
 * An order saga with in-process services, run by `node app.mjs` on SQLite, or served by
 * `baton server --workflows app.mjs` (the bottom part runs only when it is the main module).
 * Prints one JSON line: both runs and the order in which the services acted.
 */
export const APP_MJS = `
import { Baton, StepFailedError, local, service, workflow } from "baton";
import { fileURLToPath, pathToFileURL } from "node:url";

const actions = [];
export const warehouse = service("warehouse", local({
  reserve: async (order) => (actions.push("reserve " + order.orderId), { reservationId: "res-" + order.orderId }),
  release: async (reservation) => (actions.push("release " + reservation.reservationId), {}),
  ship: async (order) => {
    if (order.address === "nowhere") throw new StepFailedError("no such address", { code: "BAD_ADDRESS" });
    actions.push("ship " + order.orderId);
    return { trackingId: "t-" + order.orderId };
  },
}));
export const payments = service("payments", local({
  charge: async (order) => (actions.push("charge " + order.orderId), { paymentId: "p-" + order.orderId }),
  refund: async (payment) => (actions.push("refund " + payment.paymentId), {}),
}));

export const placeOrder = workflow("placeOrder", async (ctx, order) => {
  await ctx.call(warehouse, "reserve", order, { compensate: (r) => ctx.call(warehouse, "release", r) });
  await ctx.call(payments, "charge", order, { compensate: (p) => ctx.call(payments, "refund", p) });
  return ctx.call(warehouse, "ship", order, { retry: { maxAttempts: 1 } });
});

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const db = "sqlite:" + fileURLToPath(new URL("app.db", import.meta.url));
  const baton = await Baton.open({ db, workflows: [placeOrder], services: [warehouse, payments] });
  await baton.start(placeOrder, { orderId: "o-1", address: "1 Main St" }, { runId: "o-1" });
  await baton.start(placeOrder, { orderId: "o-2", address: "nowhere" }, { runId: "o-2" });
  const [shipped, undone] = [await baton.wait("o-1", 20_000), await baton.wait("o-2", 20_000)];
  await baton.close();
  console.log(JSON.stringify({ shipped, undone, actions }));
}
`;

/**
 * TypeScript against the installed types: the code must compile, and the \`@ts-expect-error\`
 * lines show the types are real rather than \`any\`. Also served by \`baton server --workflows\`,
 * which loads it through tsx.
 */
export const APP_TS = `
import { Baton, RunStatus, service, local, workflow, type Run, type WorkflowContext } from "baton";
import { BatonClient, BatonClientError } from "baton/client";
import { worker, type TaskContext } from "baton/worker";
import { ManualClock, type FaultInjector } from "baton/testing";

export const greeter = service("greeter", local({
  greet: async (input: { name: string }) => ({ text: "hello " + input.name }),
}));

export const greet = workflow("greet", async (ctx: WorkflowContext, input: { name: string }) => {
  const greeting = await ctx.call(greeter, "greet", input);
  const stamped = await ctx.step("stamp", () => ({ at: ctx.now() }));
  return { greeting, at: stamped.at };
});

export async function typedUses(url: string): Promise<string> {
  const clock = new ManualClock();
  const onFault: FaultInjector = (point, runId) => void [point, runId];
  const baton = await Baton.open({ db: "sqlite::memory:", workflows: [greet], clock, faultInjector: onFault });
  const started = await baton.start(greet, { name: "Ada" }, { runId: "g-1" });
  clock.advance(1_000);
  const run: Run = await baton.wait(started.runId);
  await baton.close();

  const client = new BatonClient({ url });
  const fetched = await client.getRun(run.runId);
  const done: boolean = fetched.status === RunStatus.Completed;
  const shipping = worker({
    url,
    service: "shipping",
    handlers: { ship: async (order: { orderId: string }, task: TaskContext) => ({ id: task.idempotencyKey + order.orderId }) },
  });
  void shipping;
  void BatonClientError;
  // @ts-expect-error a status is one of a closed set of strings
  const wrong: RunStatus = "finished";
  // @ts-expect-error a Run has no such field
  void run.finishedAt;
  return String(done) + wrong;
}
`;
