import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  Baton,
  StepFailedError,
  http,
  queue,
  service,
  silentLogger,
  workflow,
  type Run,
} from "../../src/index.js";
import { parseTraceparent, spanIdOf, traceIdOf } from "../../src/common/index.js";
import { worker, type Worker } from "../../src/worker/index.js";
import { tempDbUrl } from "../support/temp-db.js";
import { waitFor } from "../support/wait-for.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

/** A payments service over HTTP that remembers the `traceparent` of every request. */
class PaymentsServer {
  readonly received: Array<{ command: string; traceparent: string | undefined }> = [];
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        this.received.push({
          command: (request.url ?? "").slice(1),
          traceparent: request.headers.traceparent as string | undefined,
        });
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify({ ok: true }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe("a run's spans", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const payments = new PaymentsServer();
  const shipped: string[] = [];
  let baton: Baton | undefined;
  let shipping: Worker | undefined;
  let db: ReturnType<typeof tempDbUrl>;

  const paymentsService = (): ReturnType<typeof service> => service("payments", http(payments.url));
  const shippingService = service("shipping", queue());
  const traced = workflow("traced", async (ctx, input: { fail: boolean }) => {
    await ctx.step("reserve", () => ({ reservation: "r-1" }), { compensate: async () => {} });
    await ctx.call(
      "payments",
      "charge",
      { amount: 5 },
      {
        compensate: () => ctx.call("payments", "refund", { amount: 5 }),
      },
    );
    await ctx.call(shippingService, "ship", { to: "Ada" });
    await ctx.sleep(20);
    await ctx.waitForSignal("approve");
    if (input.fail) {
      await ctx.step("finalize", () => {
        throw new StepFailedError("the order was withdrawn", { code: "WITHDRAWN_ORDER" });
      });
    }
    return "done";
  });

  const leaf = workflow("leaf", async (ctx) => ctx.step("grow", () => "leaf"));
  const tree = workflow("tree", async (ctx) => ctx.child(leaf, {}));

  async function open(withWorker = true): Promise<{ baton: Baton; url: string }> {
    baton = await Baton.open({
      db: db.url,
      workflows: [traced, tree, leaf],
      services: [paymentsService(), shippingService],
      logger: silentLogger,
    });
    const { url } = await baton.serve({ port: 0 });
    if (!withWorker) return { baton, url };
    shipping ??= worker({
      url,
      service: "shipping",
      pollWaitSeconds: 1,
      logger: silentLogger,
      handlers: {
        ship: (_input: unknown, task) => {
          shipped.push(task.traceparent);
          return { trackingId: "t-1" };
        },
      },
    });
    if (!shipping.isRunning) await shipping.start();
    return { baton, url };
  }

  /** Waits for the run to wait on its signal, sends it, and waits for its end. */
  async function approve(b: Baton, runId: string): Promise<Run> {
    await waitFor(async () => (await b.get(runId)).waitingOn?.kind === "signal", {
      intervalMs: 20,
    });
    await b.signal(runId, "approve");
    return b.wait(runId, 20_000);
  }

  const spansOf = (runId: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.attributes["baton.run_id"] === runId);
  const named = (spans: ReadableSpan[], name: string): ReadableSpan[] =>
    spans.filter((s) => s.name === name);

  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    await payments.start();
  });
  afterEach(async () => {
    await shipping?.stop();
    shipping = undefined;
    await baton?.close();
    baton = undefined;
    db?.cleanup();
  });
  afterAll(async () => {
    await payments.close();
    await provider.shutdown();
    trace.disable();
  });

  it("joins the trace of the start request: steps, calls, timer, signal and compensations", async () => {
    db = tempDbUrl();
    const { baton: b, url } = await open();
    const answer = await fetch(`${url}/v1/workflows/traced/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: TRACEPARENT },
      body: JSON.stringify({ runId: "t-1", input: { fail: true } }),
    });
    expect(answer.status).toBe(201);
    const run = await approve(b, "t-1");
    expect(run.status).toBe("compensated");

    const spans = spansOf("t-1");
    expect(new Set(spans.map((s) => s.name))).toEqual(
      new Set([
        "step reserve",
        "call payments.charge",
        "call shipping.ship",
        "timer",
        "signal approve",
        "step finalize",
        "compensate payments.charge",
        "call payments.refund",
        "compensate reserve",
      ]),
    );
    for (const span of spans) {
      expect(span.spanContext().traceId, span.name).toBe(TRACE_ID);
      expect(span.parentSpanContext?.spanId, span.name).toBe(CALLER_SPAN);
      expect(span.attributes["baton.workflow"]).toBe("traced");
      expect(typeof span.attributes["baton.seq"]).toBe("number");
    }
    const [charge] = named(spans, "call payments.charge");
    expect(charge!.kind).toBe(SpanKind.CLIENT);
    expect(charge!.attributes["baton.attempt"]).toBe(1);
    expect(charge!.attributes["http.response.status_code"]).toBe(200);
    const [finalize] = named(spans, "step finalize");
    expect(finalize!.status.code).toBe(SpanStatusCode.ERROR);
    expect(finalize!.attributes["baton.error.code"]).toBe("WITHDRAWN_ORDER");
    expect(named(spans, "step reserve")[0]!.kind).toBe(SpanKind.INTERNAL);

    // Each service names the exported span of its call as its parent.
    const parentOf = (traceparent: string | undefined) => parseTraceparent(traceparent);
    const chargeHeader = payments.received.find((r) => r.command === "charge");
    expect(parentOf(chargeHeader?.traceparent)).toEqual({
      traceId: TRACE_ID,
      spanId: charge!.spanContext().spanId,
      traceFlags: 1,
    });
    const refundHeader = payments.received.find((r) => r.command === "refund");
    expect(parentOf(refundHeader?.traceparent)?.spanId).toBe(
      named(spans, "call payments.refund")[0]!.spanContext().spanId,
    );
    const [ship] = named(spans, "call shipping.ship");
    expect(ship!.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(shipped[0])).toEqual({
      traceId: TRACE_ID,
      spanId: ship!.spanContext().spanId,
      traceFlags: 1,
    });
  });

  it("keeps the trace across a restart: the spans after it join the same trace", async () => {
    db = tempDbUrl();
    const first = (await open()).baton;
    await first.start(traced, { fail: false }, { runId: "t-2", traceparent: TRACEPARENT });
    await waitFor(async () => (await first.get("t-2")).waitingOn?.kind === "signal");
    await shipping?.stop();
    shipping = undefined;
    await first.close();
    const before = spansOf("t-2").length;

    const second = (await open()).baton;
    const run = await approve(second, "t-2");
    expect(run.status).toBe("completed");
    const after = spansOf("t-2").slice(before);
    expect(after.map((s) => s.name)).toEqual(["signal approve"]);
    for (const span of spansOf("t-2")) {
      expect(span.spanContext().traceId).toBe(TRACE_ID);
      expect(span.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    }
  });

  it("goes on in a child of a queued call's span when the run comes back while the call is out", async () => {
    db = tempDbUrl();
    const first = (await open(false)).baton;
    await first.start(traced, { fail: false }, { runId: "t-4", traceparent: TRACEPARENT });
    await waitFor(async () => (await first.get("t-4")).waitingOn?.kind === "task");
    // This SDK's ids are its own: the span the task names is ended as the run leaves.
    await first.close();
    const second = (await open()).baton;
    expect((await approve(second, "t-4")).status).toBe("completed");

    const ships = named(spansOf("t-4"), "call shipping.ship");
    expect(ships).toHaveLength(2);
    const [sent, resumed] = ships;
    expect(sent!.attributes["baton.interrupted"]).toBe(true);
    expect(sent!.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(parseTraceparent(shipped.at(-1))?.spanId).toBe(sent!.spanContext().spanId);
    expect(resumed!.attributes["baton.resumed"]).toBe(true);
    expect(resumed!.spanContext().traceId).toBe(TRACE_ID);
    expect(resumed!.parentSpanContext?.spanId).toBe(sent!.spanContext().spanId);
  });

  it("puts a child run's spans in its parent's trace", async () => {
    db = tempDbUrl();
    const b = (await open(false)).baton;
    await b.start(tree, {}, { runId: "t-5", traceparent: TRACEPARENT });
    expect((await b.wait("t-5", 20_000)).status).toBe("completed");
    const [grow] = named(spansOf("t-5:1"), "step grow");
    expect(grow!.spanContext().traceId).toBe(TRACE_ID);
    expect(grow!.parentSpanContext?.spanId).toBe(CALLER_SPAN);
  });

  it("without a traceparent, derives the trace and the parent from the run id", async () => {
    db = tempDbUrl();
    const { baton: b, url } = await open();
    // An invalid header is ignored, as if there were none.
    await fetch(`${url}/v1/workflows/traced/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: "00-not-a-trace-context" },
      body: JSON.stringify({ runId: "t-3", input: { fail: false } }),
    });
    expect((await approve(b, "t-3")).status).toBe("completed");
    const spans = spansOf("t-3");
    expect(spans.length).toBeGreaterThanOrEqual(5);
    for (const span of spans) {
      expect(span.spanContext().traceId).toBe(traceIdOf("t-3"));
      expect(span.parentSpanContext?.spanId).toBe(spanIdOf("t-3:run"));
    }
    const chargeHeader = payments.received.filter((r) => r.command === "charge").at(-1);
    expect(parseTraceparent(chargeHeader?.traceparent)?.spanId).toBe(
      named(spans, "call payments.charge")[0]!.spanContext().spanId,
    );
  });
});
