import { Option, type Command } from "commander";
import { explainListenError } from "../cli-error.js";
import { withoutPassword } from "../format.js";
import {
  allowedOriginOption,
  hostOption,
  insecureNoAuthOption,
  parseDuration,
  parseLimit,
  parseRetention,
  portOption,
  tokenOption,
} from "../options.js";
import { noAuthBanner, serveSecurity } from "../serve-security.js";

interface ServeOptions {
  db: string;
  port: number;
  host: string;
  workflows?: string[];
  token?: string;
  insecureNoAuth?: boolean;
  allowedOrigin?: string[];
  nodeId?: string;
  leaseMs?: number;
  maxHistory?: number;
  maxOutputBytes?: number;
  maxSignals?: number;
  retention: string;
  eventsAmqp?: string;
  eventsExchange: string;
}

/**
 * `baton server` and `baton dev`: an orchestrator serving the HTTP API until SIGINT or SIGTERM.
 * `dev` is the same with friendlier defaults: readable logs and its own database file.
 */
export function registerServeCommands(program: Command): void {
  for (const mode of ["server", "dev"] as const) {
    const isDev = mode === "dev";
    program
      .command(mode)
      .description(
        isDev
          ? "run an orchestrator for development: readable logs, data in .baton/dev.db"
          : "run an orchestrator: the HTTP API, JSON logs, data in .baton/baton.db",
      )
      .addOption(
        new Option("--db <url>", "database: sqlite:PATH or postgres://user:password@host/db")
          .env("BATON_DB")
          .default(isDev ? "sqlite:.baton/dev.db" : "sqlite:.baton/baton.db"),
      )
      .addOption(portOption(7070))
      .addOption(hostOption())
      .option(
        "--workflows <files...>",
        "ES modules (JS or TS) whose workflow(), service() and schedule() exports to register",
      )
      .addOption(tokenOption())
      .addOption(insecureNoAuthOption())
      .addOption(allowedOriginOption())
      .addOption(
        new Option(
          "--node-id <id>",
          "this node's name among several sharing a PostgreSQL database; keep it stable across restarts (default: host name and pid)",
        ).env("BATON_NODE_ID"),
      )
      .addOption(
        new Option(
          "--lease-ms <ms>",
          "how long a node keeps its runs without renewing its lease; a dead node's runs move after it (PostgreSQL; default 10000)",
        )
          .env("BATON_LEASE_MS")
          .argParser(parseDuration),
      )
      .addOption(
        new Option(
          "--max-history <entries>",
          "journal entries per run generation before it fails HISTORY_TOO_LARGE (default 10000)",
        )
          .env("BATON_MAX_HISTORY")
          .argParser(parseLimit),
      )
      .addOption(
        new Option(
          "--max-output-bytes <bytes>",
          "bytes of JSON of a step's, call's or run's output and of a run's input (default 1048576)",
        )
          .env("BATON_MAX_OUTPUT_BYTES")
          .argParser(parseLimit),
      )
      .addOption(
        new Option(
          "--max-signals <n>",
          "signals a run may hold unconsumed; one more is refused 409 TOO_MANY_SIGNALS (default 1000)",
        )
          .env("BATON_MAX_SIGNALS")
          .argParser(parseLimit),
      )
      .addOption(
        new Option(
          "--retention <duration>",
          'how long runs are kept once they end, unless their workflow says: "90s", "15m", "12h", "30d"; 0 keeps them forever',
        )
          .env("BATON_RETENTION")
          .default("30d")
          .argParser(parseRetention),
      )
      .addOption(
        new Option(
          "--events-amqp <url>",
          "also publish every event to a RabbitMQ topic exchange at this amqp:// URL (routing key = topic)",
        ).env("BATON_EVENTS_AMQP"),
      )
      .addOption(
        new Option("--events-exchange <name>", "the exchange for --events-amqp")
          .env("BATON_EVENTS_EXCHANGE")
          .default("baton.events"),
      )
      .action((options: ServeOptions) => serve(options, isDev));
  }
}

async function serve(options: ServeOptions, isDev: boolean): Promise<void> {
  // Before anything opens: a server that would be open by mistake does not start at all.
  const security = await serveSecurity(options);
  // Loaded here, not at the top: client commands start faster without the server's modules.
  const [{ Baton }, { onShutdownSignal }, { loadDefinitions }, { createLogger }, { startTracing }] =
    await Promise.all([
      import("../../baton.js"),
      import("../../server/index.js"),
      import("../load-definitions.js"),
      import("../log-output.js"),
      import("../otel.js"),
    ]);
  const logger = createLogger({ pretty: isDev });
  // Registered before the engine opens, so the runs it resumes are traced too.
  const tracing = await startTracing(process.env, logger);
  try {
    const { workflows, services, schedules } = await loadDefinitions(options.workflows ?? []);
    if (workflows.length === 0) {
      logger.warn({}, "no workflows registered: pass --workflows FILE to run some");
    }
    const baton = await Baton.open({
      db: options.db,
      workflows,
      services,
      schedules,
      logger,
      retention: options.retention,
      ...(options.nodeId !== undefined ? { nodeId: options.nodeId } : {}),
      ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
      limits: {
        ...(options.maxHistory !== undefined ? { maxHistory: options.maxHistory } : {}),
        ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
        ...(options.maxSignals !== undefined ? { maxSignals: options.maxSignals } : {}),
      },
      ...(options.eventsAmqp !== undefined
        ? { events: { amqp: { url: options.eventsAmqp, exchange: options.eventsExchange } } }
        : {}),
    });
    let url: string;
    try {
      // Request logs are for production: in development they drown what matters.
      const serving = await baton.serve({
        port: options.port,
        host: options.host,
        logger: isDev ? logger.child({}, { level: "warn" }) : logger,
        ...security.options,
      });
      url = serving.url;
    } catch (e) {
      await baton.close();
      throw explainListenError(e, options.host, options.port);
    }
    const stopped = new Promise<NodeJS.Signals>((resolve) => onShutdownSignal(resolve));
    logger.info(
      {
        url,
        db: withoutPassword(options.db),
        workflows: workflows.map((w) => w.name),
        services: services.map((s) => `${s.name}(${s.transport.kind})`),
        ...(schedules.length > 0 ? { schedules: schedules.map((s) => s.name) } : {}),
        auth: options.token !== undefined ? "bearer token" : "none",
        ...(security.warnings.length > 0 ? { warnings: security.warnings } : {}),
      },
      `Baton listening on ${url}`,
    );
    if (security.warnings.includes("no auth"))
      logger.warn({ warnings: security.warnings }, noAuthBanner(url));
    const signal = await stopped;
    logger.info(
      { signal },
      "shutting down: streams end, requests and steps in progress finish (Ctrl-C again forces)",
    );
    await baton.close();
    logger.info({}, "stopped");
  } finally {
    // After the engine closed: the spans of its last steps are exported too.
    await tracing?.shutdown();
  }
}
