import { afterEach, describe, expect, it } from "vitest";
import { BatonError, StepFailedError, TransientError } from "../../src/common/index.js";
import { HttpTransport, http, type CommandRequest } from "../../src/transport/index.js";
import { freePort, reply, startService, type RunningService } from "./service-server.js";

/** One attempt of `svc.command`, as the engine would send it. */
function commandRequest(overrides: Partial<CommandRequest> = {}): CommandRequest {
  return {
    service: "svc",
    command: "reserve",
    input: { sku: "SKU-1", qty: 2 },
    runId: "r-1",
    workflow: "order",
    seq: 1,
    attempt: 1,
    idempotencyKey: "r-1:1",
    traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function failureOf(promise: Promise<unknown>): Promise<BatonError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(BatonError);
    return e as BatonError;
  }
  throw new Error("expected the call to fail");
}

describe("HttpTransport", () => {
  const services: RunningService[] = [];
  const transports: HttpTransport[] = [];
  afterEach(async () => {
    for (const t of transports.splice(0)) await t.close();
    for (const s of services.splice(0)) await s.close();
  });
  async function serve(handler: Parameters<typeof startService>[0]): Promise<RunningService> {
    const service = await startService(handler);
    services.push(service);
    return service;
  }
  function transport(baseUrl: string, options: Parameters<typeof http>[1] = {}): HttpTransport {
    const created = new HttpTransport(http(baseUrl, options));
    transports.push(created);
    return created;
  }

  it("posts the JSON input to {baseUrl}/{command} with the protocol headers and returns the JSON reply", async () => {
    const svc = await serve((_req, res) => reply(res, 200, { reservationId: "res-9" }));
    const t = transport(`${svc.url}/api/`, { headers: { Authorization: "Bearer s3cret" } });
    expect(t.baseUrl).toBe(`${svc.url}/api`);
    const output = await t.send(commandRequest({ attempt: 3 }));
    expect(output).toEqual({ reservationId: "res-9" });
    const [received] = svc.requests;
    expect(received).toMatchObject({
      method: "POST",
      path: "/api/reserve",
      body: { sku: "SKU-1", qty: 2 },
    });
    expect(received!.headers).toMatchObject({
      "content-type": "application/json",
      "idempotency-key": "r-1:1",
      "baton-run-id": "r-1",
      "baton-workflow": "order",
      "baton-attempt": "3",
      traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
      authorization: "Bearer s3cret",
    });
  });

  it("treats an empty 2xx body as no output", async () => {
    const svc = await serve((_req, res) => reply(res, 204));
    expect(await transport(svc.url).send(commandRequest())).toBeUndefined();
  });

  it("fails for good on a 4xx, taking code and message from a Baton-shaped error body", async () => {
    const svc = await serve((_req, res) =>
      reply(res, 409, {
        error: { code: "OUT_OF_STOCK", message: "only 1 left", details: { left: 1 } },
      }),
    );
    const error = await failureOf(transport(svc.url).send(commandRequest()));
    expect(error).toBeInstanceOf(StepFailedError);
    expect(error).toMatchObject({ code: "OUT_OF_STOCK", message: "only 1 left", retryable: false });
    expect(error.details).toMatchObject({ httpStatus: 409, serviceDetails: { left: 1 } });
  });

  it("names a 4xx without an error body HTTP_<status> and quotes the body", async () => {
    const svc = await serve((_req, res) => reply(res, 404, "no such route"));
    const error = await failureOf(transport(svc.url).send(commandRequest()));
    expect(error).toMatchObject({ code: "HTTP_404", retryable: false });
    expect(error.message).toBe(
      `svc.reserve: POST ${svc.url}/reserve answered 404 Not Found: no such route`,
    );
  });

  it.each([500, 502, 503, 408, 429])("retries a %i", async (status) => {
    const svc = await serve((_req, res) =>
      reply(res, status, { error: { code: "BUSY", message: "try later" } }),
    );
    const error = await failureOf(transport(svc.url).send(commandRequest()));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code: `HTTP_${status}`, retryable: true });
    expect(error.message).toContain("try later");
  });

  it("carries Retry-After, in seconds or as an HTTP date, as retryAfterMs", async () => {
    const at = new Date(Date.now() + 5_000).toUTCString();
    const svc = await serve((_req, res, i) =>
      reply(res, i === 0 ? 429 : 503, "", { "retry-after": i === 0 ? "2" : at }),
    );
    const t = transport(svc.url);
    const seconds = (await failureOf(t.send(commandRequest()))) as TransientError;
    expect(seconds.retryAfterMs).toBe(2_000);
    const date = (await failureOf(t.send(commandRequest()))) as TransientError;
    // An HTTP date has whole seconds: up to a second earlier than asked, never later.
    expect(date.retryAfterMs).toBeGreaterThan(3_500);
    expect(date.retryAfterMs).toBeLessThanOrEqual(5_000);
  });

  it("refuses a 2xx whose body is not JSON, without retrying", async () => {
    const svc = await serve((_req, res) => reply(res, 200, "<html>ok</html>"));
    const error = await failureOf(transport(svc.url).send(commandRequest()));
    expect(error).toMatchObject({ code: "OUTPUT_NOT_JSON", retryable: false });
    expect(error.message).toContain("<html>ok</html>");
  });

  it("gives up on an attempt after timeoutMs, retryably", async () => {
    const svc = await serve(() => {}); // never answers
    const started = performance.now();
    const error = await failureOf(transport(svc.url, { timeoutMs: 150 }).send(commandRequest()));
    expect(error).toMatchObject({ code: "STEP_TIMEOUT", retryable: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    const perCall = await failureOf(
      transport(svc.url, { timeoutMs: 60_000 }).send(commandRequest({ timeoutMs: 100 })),
    );
    expect(perCall.message).toContain("within 100 ms");
  });

  it("reports a refused connection as UNAVAILABLE, retryably, naming the URL", async () => {
    const port = await freePort();
    const error = await failureOf(transport(`http://127.0.0.1:${port}`).send(commandRequest()));
    expect(error).toMatchObject({ code: "UNAVAILABLE", retryable: true });
    expect(error.message).toContain(`http://127.0.0.1:${port}/reserve`);
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("reports a connection reset mid-request as retryable", async () => {
    const svc = await serve((_req, res) => void res.socket?.destroy());
    const error = await failureOf(transport(svc.url).send(commandRequest()));
    expect(error).toMatchObject({ code: "UNAVAILABLE", retryable: true });
  });

  it("keeps connections alive: back-to-back calls reuse their sockets", async () => {
    const svc = await serve((_req, res) => reply(res, 200, { ok: true }));
    const t = transport(svc.url);
    for (let seq = 1; seq <= 10; seq++) {
      await t.send(commandRequest({ seq, idempotencyKey: `r-1:${seq}` }));
    }
    expect(svc.requests).toHaveLength(10);
    // undici marks a socket free a tick after its reply ends, so calls issued in the same tick
    // may alternate between two sockets; with any gap between calls it is one (see the engine test).
    expect(svc.connections).toBeLessThanOrEqual(2);
  });

  it("opens no more than maxConnections sockets, however many calls are in flight", async () => {
    const svc = await serve(
      (_req, res) => void setTimeout(() => reply(res, 200, { ok: true }), 20),
    );
    const t = transport(svc.url, { maxConnections: 2 });
    await Promise.all(Array.from({ length: 12 }, (_, i) => t.send(commandRequest({ seq: i }))));
    expect(svc.requests).toHaveLength(12);
    expect(svc.connections).toBe(2);
  });

  it("refuses bad definitions when the service is defined, not when it is called", () => {
    expect(() => http("ftp://example.test")).toThrow(/http: or https:/);
    expect(() => http("not a url")).toThrow(/not an absolute URL/);
    expect(() => http("http://svc.test/?x=1")).toThrow(/no query/);
    expect(() => http("http://svc.test", { headers: { "Idempotency-Key": "x" } })).toThrow(
      /set by Baton/,
    );
    expect(() => http("http://svc.test", { timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
