import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import pino from "pino";
import { BatonError } from "../common/index.js";
import type { Engine } from "../engine/index.js";
import { requireBearerToken } from "./auth.js";
import { errorHandler, notFoundHandler } from "./errors.js";
import { EventHub } from "./event-hub.js";
import { ServerLifecycle } from "./lifecycle.js";
import { ServerMetrics, type EventBridgeFigures } from "./metrics.js";
import { registerOpenApi, registerOpenApiRoute } from "./openapi.js";
import {
  acceptJsonBodiesOnly,
  jsonSerializerCompiler,
  zodValidatorCompiler,
} from "./request-parsing.js";
import {
  isLoopbackHost,
  parseAllowedOrigins,
  refuseForeignOrigins,
  requireJsonContentType,
} from "./request-guards.js";
import { registerEventRoutes } from "./routes/events.js";
import { registerOperationRoutes } from "./routes/operations.js";
import type { RouteContext } from "./routes/route-context.js";
import { registerRunRoutes } from "./routes/runs.js";
import { registerScheduleRoutes } from "./routes/schedules.js";
import { registerServiceRoutes } from "./routes/services.js";
import { registerSubscriptionRoutes } from "./routes/subscriptions.js";
import { registerTaskRoutes } from "./routes/tasks.js";
import { registerWorkflowRoutes } from "./routes/workflows.js";
import { checkSecurityOptions } from "./security-options.js";
import { dashboardFallback, registerDashboard } from "./static.js";
import type { Webhooks } from "../webhooks/index.js";

export interface ServerOptions {
  /** TCP port; 0 picks a free one (see `url`). Default 7070. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1: reachable from this machine only. */
  host?: string;
  /**
   * When set, every /v1 call needs `Authorization: Bearer <token>`. Without one the server
   * refuses to bind an address other machines can reach, unless `insecureNoAuth` says so.
   */
  token?: string;
  /**
   * Serve the API without a token on a non-loopback address: anyone who can reach it may
   * start, cancel and read runs. Reported by `/readyz` as the warning `no auth`.
   */
  insecureNoAuth?: boolean;
  /**
   * Origins whose browser requests are accepted besides the server's own, e.g. the public
   * address of a proxy that rewrites the Host header: `["https://baton.example.com"]`.
   */
  allowedOrigins?: readonly string[];
  /** Largest request body in bytes; larger ones get 413. Default 1 MiB. */
  bodyLimit?: number;
  /** A pino logger for request and fault logs, or false for none. Default: pino at BATON_LOG_LEVEL or warn. */
  logger?: FastifyBaseLogger | false;
  /** How often a followed run (stream, `?wait`) is read again without an event. Default 1000 ms. */
  runRefreshMs?: number;
  /** How often an idle event stream sends a keep-alive comment. Default 15 s. */
  sseHeartbeatMs?: number;
  /** Include the Node.js process metrics (CPU, memory, event loop, GC) in /metrics. Default true. */
  processMetrics?: boolean;
  /** Webhook subscriptions to serve at /v1/subscriptions (Baton.serve passes its own). */
  webhooks?: Webhooks;
  /** The event bridge's figures for /metrics, when events go to a broker too. */
  eventBridge?: () => EventBridgeFigures;
}

/** An HTTP server in front of an engine. */
export interface BatonServer {
  /**
   * The fastify instance, for adding routes (the dashboard) before `listen`. Routes outside
   * /v1 are open without the token.
   */
  readonly app: FastifyInstance;
  /** Starts listening; resolves with the base URL, e.g. `http://127.0.0.1:7070`. */
  listen(): Promise<string>;
  /** The base URL clients on this machine use; throws if not listening. */
  readonly url: string;
  /**
   * Stops accepting connections, ends event streams and long polls (they answer at once),
   * waits for the requests in progress, then resolves. Idempotent. The engine stays open.
   */
  close(): Promise<void>;
}

export const DEFAULT_PORT = 7070;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Run ids are up to 200 characters and task ids a little longer; URL-encoding can triple them. */
const MAX_PATH_PARAM_LENGTH = 2048;

/**
 * Builds the HTTP API (docs/http-api.md) over `engine`: the routes, auth, errors in the
 * contract's shape, live streams, metrics and the OpenAPI document. Nothing listens until
 * `listen()`; `app.inject()` works without it.
 */
export function createServer(engine: Engine, options: ServerOptions = {}): BatonServer {
  // Checked before anything subscribes to the engine: a bad option leaves nothing behind.
  const host = options.host ?? DEFAULT_HOST;
  const warnings = checkSecurityOptions({
    host,
    token: options.token,
    insecureNoAuth: options.insecureNoAuth,
  });
  const checkToken = options.token === undefined ? undefined : requireBearerToken(options.token);
  const isLoopbackOnly = isLoopbackHost(host);
  const allowedOrigins = parseAllowedOrigins(options.allowedOrigins);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const handleError = errorHandler(bodyLimit);
  const logger =
    options.logger ?? pino({ level: process.env.BATON_LOG_LEVEL ?? "warn", name: "baton-server" });
  const app = Fastify({
    ...(logger === false ? { logger: false } : { loggerInstance: logger }),
    bodyLimit,
    requestIdHeader: "x-request-id",
    // Requests that arrive while closing get the contract's error shape (hook below), not
    // fastify's own 503 body.
    return503OnClosing: false,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    frameworkErrors: (error, request, reply) => handleError(error, request, reply),
  }).withTypeProvider<ZodTypeProvider>();

  const lifecycle = new ServerLifecycle();
  const hub = new EventHub(engine, engine.logger);
  const metrics = new ServerMetrics(engine, hub, {
    processMetrics: options.processMetrics ?? true,
    webhooks: options.webhooks,
    ...(options.eventBridge ? { eventBridge: options.eventBridge } : {}),
  });
  const context: RouteContext = {
    engine,
    hub,
    lifecycle,
    runRefreshMs: options.runRefreshMs ?? 1000,
    warnings,
    webhooks: options.webhooks,
    sse: { heartbeatMs: options.sseHeartbeatMs ?? 15_000, maxBufferedBytes: 4 * 1024 * 1024 },
  };

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(dashboardFallback(notFoundHandler));
  acceptJsonBodiesOnly(app);

  app.addHook("onRequest", (_request, reply, done) => {
    void reply.header("x-request-id", reply.request.id);
    if (!lifecycle.isClosing) return done();
    void reply.header("connection", "close");
    done(new BatonError("UNAVAILABLE", "the server is shutting down"));
  });
  // An answer sent while closing (a long poll cut short, say) also closes its connection:
  // fastify's close waits for every connection, and would otherwise wait for this one to idle out.
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (lifecycle.isClosing) void reply.header("connection", "close");
    done(null, payload);
  });
  // Foreign origins first (a forged request learns nothing, not even that a token is
  // needed), then the token, then the content type.
  app.addHook("onRequest", refuseForeignOrigins({ allowedOrigins, isLoopbackOnly }));
  if (checkToken) app.addHook("onRequest", checkToken);
  app.addHook("onRequest", requireJsonContentType);
  // Streams and long polls end first, so that fastify's close does not wait on them.
  app.addHook("preClose", (done) => {
    lifecycle.beginClose();
    done();
  });
  app.addHook("onClose", (_instance, done) => {
    hub.close();
    metrics.close();
    done();
  });

  registerDashboard(app);
  registerOpenApi(app);
  // Routes go in a plugin that loads after the OpenAPI generator, so it sees every one.
  void app.register((api, _options, done) => {
    const routes = api.withTypeProvider<ZodTypeProvider>();
    registerWorkflowRoutes(routes, context);
    registerRunRoutes(routes, context);
    registerServiceRoutes(routes, context);
    registerTaskRoutes(routes, context);
    registerEventRoutes(routes, context);
    registerScheduleRoutes(routes, context);
    registerSubscriptionRoutes(routes, context);
    registerOperationRoutes(routes, context, metrics);
    registerOpenApiRoute(api);
    done();
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    async listen() {
      await app.listen({ port: options.port ?? DEFAULT_PORT, host });
      return urlOf(app);
    },
    get url() {
      return urlOf(app);
    },
    close() {
      closing ??= app.close();
      return closing;
    },
  };
}

function urlOf(app: FastifyInstance): string {
  const address = app.server.address();
  if (address === null || typeof address === "string") {
    throw new BatonError("UNAVAILABLE", "the server is not listening on a TCP port");
  }
  // A wildcard bind is reached from this machine through loopback.
  const host =
    address.address === "0.0.0.0"
      ? "127.0.0.1"
      : address.address === "::"
        ? "::1"
        : address.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}
