import { Option, type Command } from "commander";
import type { CliContext } from "../cli-context.js";
import {
  allowedOriginOption,
  hostOption,
  insecureNoAuthOption,
  parseRate,
  portOption,
  tokenOption,
} from "../options.js";

export interface DemoOptions {
  port: number;
  host: string;
  dataDir: string;
  db?: string;
  ordersPerSecond: number;
  token?: string;
  insecureNoAuth?: boolean;
  allowedOrigin?: string[];
  /** Payments through RabbitMQ at this URL (`true`: the local default broker). */
  amqp?: string | true;
}

/** The broker `--amqp` without a URL uses: RabbitMQ's default on this machine. */
export const DEFAULT_DEMO_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";

/** `baton demo`, what `npm start` runs: the order saga with its three services. */
export function registerDemoCommand(program: Command, context: CliContext): void {
  program
    .command("demo")
    .description(
      "the order demo: orchestrator, inventory, payments and shipping, a stream of orders",
    )
    .addOption(portOption(7070))
    .addOption(hostOption())
    .option("--data-dir <dir>", "where the database, service logs and effects go", ".baton")
    .option("--db <url>", "database (default sqlite:<data-dir>/demo.db)")
    .addOption(
      new Option("--orders-per-second <n>", "how many orders arrive per second; 0 for none")
        .argParser(parseRate)
        .default(1.5),
    )
    .addOption(tokenOption())
    .addOption(insecureNoAuthOption())
    .addOption(allowedOriginOption())
    .addOption(
      new Option(
        "--amqp [url]",
        `payments through RabbitMQ: Baton publishes its commands to the queue "payments", a plain amqplib worker answers (default URL ${DEFAULT_DEMO_AMQP_URL})`,
      ).env("BATON_DEMO_AMQP"),
    )
    .action(async (options: DemoOptions) => {
      // Loaded here, not at the top: client commands start faster without the server's modules.
      const { runDemo } = await import("../demo/demo.js");
      await runDemo(options, context);
    });
}
