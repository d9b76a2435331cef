import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient } from "../../src/client/index.js";
import { parseTraceparent } from "../../src/common/index.js";
import { ProcessGroup, eventually, freePort, type TestProcess } from "../demo/harness/processes.js";

const WORKFLOWS = join("test", "tracing", "fixtures", "traced-workflows.ts");
const WORKER = join("test", "tracing", "fixtures", "shipping-worker.ts");
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN = "b7ad6b7169203331";

/** One span as OTLP/HTTP JSON carries it (ids in hex). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  attributes?: Array<{ key: string; value: { stringValue?: string; intValue?: number | string } }>;
}

interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpSpan["attributes"] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

function attribute(attributes: OtlpSpan["attributes"], key: string): string | number | undefined {
  const value = attributes?.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Listens on a loopback port; resolves with its URL. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("traces exported by baton server over OTLP/HTTP JSON", () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), "baton-otlp-"));
  /** What the OTLP receiver got: every span, with the service name of its resource. */
  const exported: Array<OtlpSpan & { service: string | number | undefined }> = [];
  const exportErrors: string[] = [];
  /** The `traceparent` of every request the payments service got, by command. */
  const paymentsGot: Array<{ command: string; traceparent: string | undefined }> = [];
  const receiver = createServer((request, response) => {
    void readBody(request).then((body) => {
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        exportErrors.push(`${request.method} ${request.url}`);
      } else if (!/json/.test(request.headers["content-type"] ?? "")) {
        exportErrors.push(`content-type ${request.headers["content-type"]}`);
      } else {
        for (const resourceSpans of (JSON.parse(body) as ExportRequest).resourceSpans ?? []) {
          const service = attribute(resourceSpans.resource?.attributes, "service.name");
          for (const scope of resourceSpans.scopeSpans ?? [])
            for (const span of scope.spans ?? []) exported.push({ ...span, service });
        }
      }
      response.setHeader("content-type", "application/json");
      response.end("{}");
    });
  });
  const payments = createServer((request, response) => {
    void readBody(request).then(() => {
      paymentsGot.push({
        command: (request.url ?? "").slice(1),
        traceparent: request.headers.traceparent as string | undefined,
      });
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ ok: true }));
    });
  });
  let receiverUrl = "";
  let paymentsUrl = "";
  let port = 0;

  const startServer = (name: string): TestProcess =>
    group.startBaton(
      name,
      [
        "server",
        "--workflows",
        WORKFLOWS,
        "--db",
        `sqlite:${join(dir, "baton.db")}`,
        "--port",
        String(port),
      ],
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "orchestrator",
        // Exported within 50 ms of ending, so what happened before the kill is seen before it.
        OTEL_BSP_SCHEDULE_DELAY: "50",
        TRACE_PAYMENTS_URL: paymentsUrl,
      },
    );
  const spansOf = (runId: string) =>
    exported.filter((s) => attribute(s.attributes, "baton.run_id") === runId);
  const exportedNamed = async (runId: string, names: string[]) =>
    eventually(`spans ${names.join(", ")} to be exported`, () => {
      const have = new Set(spansOf(runId).map((s) => s.name));
      return names.every((n) => have.has(n));
    });

  beforeAll(async () => {
    receiverUrl = await listen(receiver);
    paymentsUrl = await listen(payments);
    port = await freePort();
  });
  afterAll(async () => {
    await group.killAll();
    receiver.closeAllConnections();
    payments.closeAllConnections();
    await Promise.all([
      new Promise((resolve) => receiver.close(resolve)),
      new Promise((resolve) => payments.close(resolve)),
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("puts every span, across SIGKILLs and restarts, and every traceparent sent in the start request's trace", async () => {
    const url = `http://127.0.0.1:${port}`;
    const client = new BatonClient({ url });
    const releaseFile = join(dir, "release-shipping");
    let server = startServer("orchestrator");
    await server.waitForOutput(/listening on/i);
    const shippingWorker = group.startTs("shipping worker", WORKER, [], {
      BATON_WORKER_URL: url,
      RELEASE_FILE: releaseFile,
    });
    await shippingWorker.waitForOutput(/WORKER READY/);
    const restart = async (name: string): Promise<void> => {
      server.kill("SIGKILL");
      await server.exited;
      server = startServer(name);
      await server.waitForOutput(/listening on/i);
    };

    const started = await fetch(`${url}/v1/workflows/shipment/runs`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
      },
      body: JSON.stringify({ runId: "ship-1", input: { orderId: "o-1" } }),
    });
    expect(started.status).toBe(201);
    // Killed while the worker holds the queued call: its span is ended by the next process.
    await shippingWorker.waitForOutput(/TASK ship/);
    await exportedNamed("ship-1", ["step prepare", "call payments.charge"]);
    const firstKillAt = Date.now();
    await restart("orchestrator after the first kill");
    writeFileSync(releaseFile, "");

    // Killed again while the run waits on its signal, before its last call.
    await eventually("the run to wait on its signal", async () => {
      const run = await client.getRun("ship-1");
      return run.waitingOn?.kind === "signal";
    });
    await exportedNamed("ship-1", ["call shipping.ship"]);
    await restart("orchestrator after the second kill");
    const signalled = await fetch(`${url}/v1/runs/ship-1/signals/go`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(signalled.status).toBe(202);
    await eventually("the run to complete", async () => {
      const run = await client.getRun("ship-1");
      return run.status === "completed";
    });
    await exportedNamed("ship-1", ["signal go", "call payments.capture"]);

    expect(exportErrors).toEqual([]);
    const spans = spansOf("ship-1");
    expect(spans.map((s) => s.name).sort()).toEqual([
      "call payments.capture",
      "call payments.charge",
      "call shipping.ship",
      "signal go",
      "step prepare",
    ]);
    for (const span of spans) {
      expect(span.traceId, span.name).toBe(TRACE_ID);
      expect(span.parentSpanId, span.name).toBe(CALLER_SPAN);
      expect(span.service).toBe("orchestrator");
      expect(attribute(span.attributes, "baton.workflow")).toBe("shipment");
    }
    const spanNamed = (name: string) => spans.find((s) => s.name === name)!;

    // Each service was told the exported span of its call as its parent.
    const sent = (command: string) =>
      parseTraceparent(paymentsGot.find((r) => r.command === command)?.traceparent);
    expect(sent("charge")).toMatchObject({
      traceId: TRACE_ID,
      spanId: spanNamed("call payments.charge").spanId,
    });
    expect(sent("capture")).toMatchObject({
      traceId: TRACE_ID,
      spanId: spanNamed("call payments.capture").spanId,
    });
    const [, workerGot] = shippingWorker.output.match(/TASK ship traceparent=(\S+)/) ?? [];
    expect(parseTraceparent(workerGot)).toMatchObject({
      traceId: TRACE_ID,
      spanId: spanNamed("call shipping.ship").spanId,
    });
    // One span from enqueue (before the first kill) to the reply, made by the process after it.
    const shipStartMs = Number(
      BigInt(spanNamed("call shipping.ship").startTimeUnixNano) / 1_000_000n,
    );
    expect(shipStartMs).toBeLessThan(firstKillAt);
  });
});
