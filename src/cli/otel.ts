import { context } from "@opentelemetry/api";
import type { IdGenerator, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { SPAN_ID_CONTEXT_KEY, type Logger } from "../common/index.js";

/** A registered OpenTelemetry SDK: `shutdown` exports what is still buffered. */
export interface Tracing {
  shutdown(): Promise<void>;
}

type Env = Record<string, string | undefined>;

/**
 * Sets up the Node OpenTelemetry SDK for `baton server` and `baton dev` from the standard
 * environment variables: export is on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, or `OTEL_TRACES_EXPORTER` names an exporter.
 * The exporter reads its endpoint, headers and timeout, the sampler `OTEL_TRACES_SAMPLER`, the
 * batch processor `OTEL_BSP_*`, the resource `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
 * Undefined when export is off: the SDK's modules are then not even loaded, and the engine's
 * spans go to the API's no-op tracer.
 */
export async function startTracing(env: Env, logger: Logger): Promise<Tracing | undefined> {
  const exporterName = exporterOf(env);
  if (exporterName === undefined) return undefined;
  const exporter = await createExporter(exporterName, env, logger);
  if (!exporter) return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor, RandomIdGenerator }, resources] =
    await Promise.all([
      import("@opentelemetry/sdk-trace-node"),
      import("@opentelemetry/resources"),
    ]);
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ "service.name": "baton" }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    idGenerator: new AskedIdGenerator(new RandomIdGenerator()),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // Global, so the engine's API calls reach it; with the W3C propagator and async context.
  provider.register();
  logger.info(
    { exporter: exporterName, protocol: protocolOf(env) },
    "exporting traces (OpenTelemetry)",
  );
  return {
    shutdown: async () => {
      try {
        await provider.shutdown();
      } catch (e) {
        logger.warn({ err: e }, "could not export the last spans");
      }
    },
  };
}

/**
 * Random ids, except a span id the engine asks for in the active context: so that a queued call's
 * span, which a worker was told of, can be made again with its id after the orchestrator
 * restarted or the run was evicted from memory.
 */
class AskedIdGenerator implements IdGenerator {
  constructor(private readonly random: IdGenerator) {}

  generateTraceId(): string {
    return this.random.generateTraceId();
  }

  generateSpanId(): string {
    const asked = context.active().getValue(SPAN_ID_CONTEXT_KEY);
    return typeof asked === "string" ? asked : this.random.generateSpanId();
  }
}

/** "otlp", "console", or undefined when nothing asks for export. */
function exporterOf(env: Env): string | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  // The variable may list several; Baton sends to the first it knows.
  const named = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  if (named.includes("none")) return undefined;
  if (named.length > 0) return named[0];
  return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    ? "otlp"
    : undefined;
}

function protocolOf(env: Env): string {
  return (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
    env.OTEL_EXPORTER_OTLP_PROTOCOL ??
    "http/protobuf"
  ).trim();
}

async function createExporter(
  name: string,
  env: Env,
  logger: Logger,
): Promise<SpanExporter | undefined> {
  if (name === "console") {
    const { ConsoleSpanExporter } = await import("@opentelemetry/sdk-trace-base");
    return new ConsoleSpanExporter();
  }
  if (name !== "otlp") {
    logger.warn(
      { exporter: name },
      "OTEL_TRACES_EXPORTER names an exporter Baton does not have (otlp, console): no traces are exported",
    );
    return undefined;
  }
  const protocol = protocolOf(env);
  switch (protocol) {
    case "http/json": {
      const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
      return new OTLPTraceExporter();
    }
    case "http/protobuf": {
      const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
      return new OTLPTraceExporter();
    }
    default:
      logger.warn(
        { protocol },
        "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json (grpc is not supported): no traces are exported",
      );
      return undefined;
  }
}
