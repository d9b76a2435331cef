import { STATUS_CODES } from "node:http";
import type { Span } from "@opentelemetry/api";
import { Agent, type Dispatcher } from "undici";
import { BatonError, TransientError, ValidationError } from "../../common/index.js";
import type { CommandRequest, DirectTransport, HttpTransportSpec } from "../transport.js";
import {
  errorForBadOutput,
  errorForNetworkFailure,
  errorForOversizedOutput,
  errorForStatus,
  errorForTimeout,
  type CallSite,
} from "./http-failures.js";

export interface HttpOptions {
  /** Per-attempt timeout when the call sets none (ms). Without either, undici's 300 s apply. */
  timeoutMs?: number;
  /** Sent with every call, e.g. `{ authorization: "Bearer …" }`. */
  headers?: Record<string, string>;
  /** Most sockets open to the service at once (default 128); further calls wait for one. */
  maxConnections?: number;
}

/** The protocol's headers (docs/workers.md): Baton sets them on every call, and the spec may not override them. */
const PROTOCOL_HEADERS = new Set([
  "content-type",
  "idempotency-key",
  "baton-run-id",
  "baton-workflow",
  "baton-attempt",
  "traceparent",
]);

const DEFAULT_MAX_CONNECTIONS = 128;
/** A reply is journaled; one this large is a mistake, not an output. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** Enough of an error body for its message; the rest is discarded. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * A service reached by direct HTTP calls: each command is `POST {baseUrl}/{command}` with the
 * JSON input as body, and the JSON response body is the reply (docs/workers.md).
 *
 * @example
 * const payments = service("payments", http("http://payments.internal:8080", { timeoutMs: 5_000 }));
 */
export function http(baseUrl: string, options: HttpOptions = {}): HttpTransportSpec {
  const spec: HttpTransportSpec = { kind: "http", baseUrl: normaliseBaseUrl(baseUrl) };
  const { timeoutMs, headers, maxConnections } = options;
  if (timeoutMs !== undefined) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw invalid(`http(${baseUrl}): timeoutMs must be a positive number of ms`);
    }
    spec.timeoutMs = timeoutMs;
  }
  if (maxConnections !== undefined) {
    if (!Number.isInteger(maxConnections) || maxConnections < 1) {
      throw invalid(`http(${baseUrl}): maxConnections must be a whole number, at least 1`);
    }
    spec.maxConnections = maxConnections;
  }
  if (headers !== undefined) spec.headers = normaliseHeaders(baseUrl, headers);
  return spec;
}

/**
 * Sends commands over a pool of keep-alive connections of its own. The pool is undici's Agent
 * rather than global fetch's: it belongs to this transport (closing Baton closes its sockets,
 * and no process-wide dispatcher is shared with user code), it caps sockets per service so a
 * burst of runs queues instead of opening thousands of connections, and `request()` skips the
 * WHATWG stream layer that fetch adds to every body.
 */
export class HttpTransport implements DirectTransport {
  readonly kind = "http";
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly timeoutMs: number | undefined;
  private readonly headers: Record<string, string>;
  private readonly agent: Agent;

  constructor(spec: HttpTransportSpec) {
    const checked = http(spec.baseUrl, spec);
    const url = new URL(checked.baseUrl);
    this.baseUrl = checked.baseUrl;
    this.origin = url.origin;
    this.basePath = url.pathname === "/" ? "" : url.pathname;
    this.timeoutMs = checked.timeoutMs;
    this.headers = checked.headers ?? {};
    this.agent = new Agent({ connections: checked.maxConnections ?? DEFAULT_MAX_CONNECTIONS });
  }

  async send(request: CommandRequest): Promise<unknown> {
    const path = `${this.basePath}/${encodeURIComponent(request.command)}`;
    const site: CallSite = {
      call: `${request.service}.${request.command}`,
      url: `${this.origin}${path}`,
    };
    const timeoutMs = request.timeoutMs ?? this.timeoutMs;
    const deadline = new AttemptDeadline(request.signal, timeoutMs);
    const span = request.span?.isRecording() ? request.span : undefined;
    if (span) describeRequest(span, site.url);
    try {
      const response = await this.agent.request({
        origin: this.origin,
        path,
        method: "POST",
        headers: this.headersFor(request),
        body: JSON.stringify(request.input ?? null),
        signal: deadline.signal,
        // With a deadline of our own, undici's 300 s defaults must not cut a longer one short.
        ...(timeoutMs !== undefined ? { headersTimeout: 0, bodyTimeout: 0 } : {}),
      });
      span?.setAttribute("http.response.status_code", response.statusCode);
      return await readReply(site, response);
    } catch (e) {
      if (deadline.timedOut && timeoutMs !== undefined) throw errorForTimeout(site, timeoutMs);
      if (request.signal.aborted) {
        // The engine gave up on this attempt (its own timeout, or the run stopped); it has
        // already settled the attempt, so this error is only for the record.
        throw new TransientError(`${site.call}: the attempt was aborted`, {
          code: "STEP_TIMEOUT",
          cause: e,
        });
      }
      if (e instanceof BatonError) throw e;
      throw errorForNetworkFailure(site, e);
    } finally {
      deadline.dispose();
    }
  }

  /** Lets calls in progress finish, then closes every pooled socket. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  private headersFor(request: CommandRequest): Record<string, string> {
    return {
      ...this.headers,
      "content-type": "application/json",
      accept: "application/json",
      "idempotency-key": request.idempotencyKey,
      "baton-run-id": request.runId,
      "baton-workflow": request.workflow,
      "baton-attempt": String(request.attempt),
      ...(request.traceparent !== undefined ? { traceparent: request.traceparent } : {}),
    };
  }
}

/** The HTTP client attributes of OpenTelemetry's semantic conventions. */
function describeRequest(span: Span, url: string): void {
  const parsed = new URL(url);
  span.setAttributes({
    "http.request.method": "POST",
    "url.full": url,
    "server.address": parsed.hostname,
    "server.port": Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80)),
  });
}

/** 2xx: the JSON body is the output (an empty body is no output); anything else is an error. */
async function readReply(site: CallSite, response: Dispatcher.ResponseData): Promise<unknown> {
  const { statusCode, body } = response;
  if (statusCode < 200 || statusCode >= 300) {
    const text = (await readText(body, MAX_ERROR_BODY_BYTES)) ?? "";
    const retryAfter = response.headers["retry-after"];
    throw errorForStatus(
      site,
      statusCode,
      STATUS_CODES[statusCode] ?? "",
      text,
      Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
    );
  }
  const text = await readText(body, MAX_OUTPUT_BYTES);
  if (text === undefined) throw errorForOversizedOutput(site, MAX_OUTPUT_BYTES);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw errorForBadOutput(site, statusCode, text);
  }
}

/** The body as text, or undefined past `limitBytes` (the socket is then dropped, not drained). */
async function readText(
  body: Dispatcher.ResponseData["body"],
  limitBytes: number,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * One attempt's abort signal: the engine's (its timeout, or the run stopping) combined with the
 * transport's own per-call deadline, remembering which of the two fired.
 */
class AttemptDeadline {
  readonly signal: AbortSignal;
  timedOut = false;
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  private readonly forward = (): void => this.controller.abort(this.outer.reason);

  constructor(
    private readonly outer: AbortSignal,
    timeoutMs: number | undefined,
  ) {
    this.signal = this.controller.signal;
    if (outer.aborted) this.forward();
    else outer.addEventListener("abort", this.forward, { once: true });
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer.removeEventListener("abort", this.forward);
  }
}

function normaliseBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw invalid(`http(${JSON.stringify(baseUrl)}): not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(`http(${baseUrl}): the URL must be http: or https:`);
  }
  if (url.search || url.hash) {
    throw invalid(`http(${baseUrl}): the base URL takes no query or fragment`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

function normaliseHeaders(
  baseUrl: string,
  headers: Record<string, string>,
): Record<string, string> {
  const normalised: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (PROTOCOL_HEADERS.has(lower)) {
      throw invalid(`http(${baseUrl}): header ${name} is set by Baton on every call`);
    }
    if (typeof value !== "string")
      throw invalid(`http(${baseUrl}): header ${name} must be a string`);
    normalised[lower] = value;
  }
  return normalised;
}

function invalid(message: string): ValidationError {
  return new ValidationError("INVALID_DEFINITION", message);
}
