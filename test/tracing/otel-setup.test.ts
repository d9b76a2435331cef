import { context, propagation, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { startTracing } from "../../src/cli/otel.js";
import type { Logger } from "../../src/index.js";

/** A logger that keeps its warnings, to check what an operator is told. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger & { warnings: string[] } = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (_obj, msg) => void warnings.push(msg ?? ""),
    error: () => {},
    child: () => logger,
  };
  return logger;
}

describe("the CLI's OpenTelemetry setup", () => {
  // Registering sets the global provider, context manager and propagator: undo all three.
  afterEach(() => {
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it.each([
    { name: "no variable at all", env: {} },
    { name: "only a service name", env: { OTEL_SERVICE_NAME: "orchestrator" } },
    {
      name: "an endpoint with the exporter turned off",
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_TRACES_EXPORTER: "none" },
    },
    {
      name: "an endpoint with the SDK disabled",
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" },
    },
  ])("exports nothing with $name", async ({ env }) => {
    const logger = recordingLogger();
    expect(await startTracing(env, logger)).toBeUndefined();
    expect(logger.warnings).toEqual([]);
  });

  it("says why it exports nothing when asked for a protocol it does not have", async () => {
    const logger = recordingLogger();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
    };
    expect(await startTracing(env, logger)).toBeUndefined();
    expect(logger.warnings[0]).toMatch(/grpc is not supported/);
  });

  it("registers a provider for an OTLP endpoint, which the API then hands out", async () => {
    const logger = recordingLogger();
    const tracing = await startTracing(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      },
      logger,
    );
    expect(tracing).toBeDefined();
    const span = trace.getTracer("test").startSpan("probe");
    expect(span.isRecording()).toBe(true);
    // Nothing was ended: shutting down has nothing to send to the unreachable endpoint.
    await tracing!.shutdown();
  });
});
