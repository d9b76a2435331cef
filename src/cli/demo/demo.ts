import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Baton } from "../../baton.js";
import { BatonClient } from "../../client/index.js";
import { onShutdownSignal } from "../../server/index.js";
import type { CliContext } from "../cli-context.js";
import { explainListenError } from "../cli-error.js";
import { DEFAULT_DEMO_AMQP_URL, type DemoOptions } from "../commands/demo.js";
import { loadDefinitions } from "../load-definitions.js";
import { createLogger, prettyLine } from "../log-output.js";
import { noAuthBanner, serveSecurity } from "../serve-security.js";
import { Style } from "../terminal.js";
import { DemoFeed } from "./demo-feed.js";
import { demoHints } from "./hints.js";
import { OrderStream } from "./order-stream.js";
import { ServiceProcess } from "./service-process.js";

const EXAMPLE_DIR = fileURLToPath(new URL("../../../examples/order-demo/", import.meta.url));

/**
 * The order demo (`npm start`): inventory and shipping as direct-call HTTP services, payments
 * as a queue worker — three child processes — and this process as the orchestrator on SQLite
 * in the data directory, serving the API while a stream of orders arrives through it. Runs
 * until SIGINT or SIGTERM, then stops the orders, the worker, the orchestrator and the
 * services, in that order, so that work in progress can finish.
 */
export async function runDemo(options: DemoOptions, context: CliContext): Promise<void> {
  // Before any service starts: a demo that would be open by mistake does not start at all.
  const security = await serveSecurity(options);
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => onShutdownSignal(resolve));
  const dataDir = options.dataDir;
  mkdirSync(join(dataDir, "logs"), { recursive: true });
  const db = options.db ?? `sqlite:${join(dataDir, "demo.db")}`;
  const serviceEnv = (name: string): Record<string, string> => ({
    PORT: "0",
    EFFECTS_FILE: join(dataDir, `${name}-effects.jsonl`),
  });
  const amqpUrl = options.amqp === true ? DEFAULT_DEMO_AMQP_URL : options.amqp;
  const startService = (
    name: string,
    env: Record<string, string> = {},
    script = name,
  ): Promise<ServiceProcess> =>
    ServiceProcess.start({
      name,
      script: join(EXAMPLE_DIR, `${script}.ts`),
      env: { ...serviceEnv(name), ...env },
      logFile: join(dataDir, "logs", `${name}.log`),
    });

  context.note(context.err.dim("starting the order demo…"));
  const started: ServiceProcess[] = [];
  let baton: Baton | undefined;
  let stopping = false;
  try {
    const { inventory, shipping } = await startTogether(
      ["inventory", "shipping"],
      (name) => startService(name),
      started,
    );
    // workflows.ts finds the services through these, as a deployment would.
    process.env.INVENTORY_URL = `http://127.0.0.1:${inventory.port}`;
    process.env.SHIPPING_URL = `http://127.0.0.1:${shipping.port}`;
    // With --amqp, payments is reached through RabbitMQ (workflows.ts reads this).
    if (amqpUrl !== undefined) process.env.PAYMENTS_AMQP_URL = amqpUrl;
    const definitions = await loadDefinitions([join(EXAMPLE_DIR, "workflows.ts")]);
    const logger = createLogger({
      pretty: false,
      stream: orchestratorLog(join(dataDir, "logs", "baton.log")),
    });
    baton = await Baton.open({ db, ...definitions, logger });
    const serving = await baton
      .serve({
        port: options.port,
        host: options.host,
        logger: logger.child({}, { level: "warn" }),
        ...security.options,
      })
      .catch((e: unknown) => {
        throw explainListenError(e, options.host, options.port);
      });
    const payments =
      amqpUrl === undefined
        ? await startService("payments", {
            BATON_URL: serving.url,
            ...(options.token ? { BATON_API_TOKEN: options.token } : {}),
          })
        : await startService("payments", { AMQP_URL: amqpUrl }, "payments-amqp");
    started.push(payments);

    const client = new BatonClient({
      url: serving.url,
      ...(options.token ? { token: options.token } : {}),
    });
    const orders = new OrderStream(client, options.ordersPerSecond, (error, order) =>
      context.note(
        context.err.red(`  could not start ${order.orderId}: ${error.code}: ${error.message}`),
      ),
    );
    const engine = baton.engine;
    const feed = new DemoFeed(
      context,
      { on: (l) => engine.on(l), services: () => engine.services() },
      "placeOrder",
    );
    const facts = {
      url: serving.url,
      dataDir,
      db,
      services: { inventory, payments, shipping },
      ...(amqpUrl !== undefined ? { paymentsVia: "RabbitMQ queue payments" } : {}),
      ordersPerSecond: options.ordersPerSecond,
      sampleOrderId: orders.sampleOrderId,
      token: options.token,
    };
    for (const line of demoHints(facts, context)) context.print(line);
    if (security.warnings.includes("no auth"))
      context.note(context.err.red(noAuthBanner(serving.url)));
    feed.start();
    orders.start();
    for (const service of started) reportUnexpectedExit(service, feed, () => stopping);

    const signal = await stopRequested;
    feed.stop();
    context.note(
      context.err.dim(
        `${signal}: stopping the orders, the worker, the orchestrator, the services (Ctrl-C again forces)…`,
      ),
    );
    await orders.stop();
  } finally {
    stopping = true;
    // The worker goes first, while the API can still take its reports; the HTTP services last,
    // so that calls the engine has in flight get their answers.
    const payments = started.find((s) => s.name === "payments");
    await payments?.stop();
    await baton?.close();
    await Promise.all(started.map((s) => s.stop()));
  }
  context.note(context.err.dim("demo stopped"));
}

/**
 * The orchestrator's JSON log goes to a file, so the terminal shows the orders; errors are
 * also echoed to stderr, readable, because someone should see them.
 */
function orchestratorLog(path: string): { write(line: string): void } {
  const file = createWriteStream(path, { flags: "a" });
  const style = new Style(process.stderr);
  return {
    write(line: string) {
      file.write(line);
      if (/"level":(5|6)\d/.test(line)) process.stderr.write(prettyLine(line, style));
    },
  };
}

/** A service that dies while the demo runs is worth a red line: the runs will wait or retry. */
function reportUnexpectedExit(
  service: ServiceProcess,
  feed: DemoFeed,
  isStopping: () => boolean,
): void {
  void service.exited.then((how) => {
    if (isStopping()) return;
    const effect =
      service.name === "payments" ? "its commands wait in the queue" : "calls to it are retried";
    feed.warn(`  ${service.name} exited (${how}): ${effect}; see ${service.logFile}`);
  });
}

/** Starts services side by side; those that did start are kept in `started` for the shutdown. */
async function startTogether<Name extends string>(
  names: readonly Name[],
  start: (name: Name) => Promise<ServiceProcess>,
  started: ServiceProcess[],
): Promise<Record<Name, ServiceProcess>> {
  const results = await Promise.allSettled(names.map(start));
  const byName = {} as Record<Name, ServiceProcess>;
  results.forEach((result, i) => {
    if (result.status === "fulfilled") {
      started.push(result.value);
      byName[names[i] as Name] = result.value;
    }
  });
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
  return byName;
}
