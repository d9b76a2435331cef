import { BatonClientError, isRetryableStatus } from "./client-error.js";

export interface HttpApiOptions {
  url: string;
  token: string | undefined;
  fetch: typeof globalThis.fetch;
  timeoutMs: number;
}

export interface ApiRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** An array value repeats the parameter (`tag=a:1&tag=b:2`). */
  query?: Record<string, string | number | readonly string[] | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** The caller's cancellation: the request rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Added to the usual timeout: a long poll or `?wait=` is slow on purpose. */
  extraTimeoutMs?: number;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * The plumbing beneath BatonClient: URLs, auth, timeouts, and turning every way a call can go
 * wrong into a BatonClientError. Uses only fetch and web APIs, so the client also runs in the
 * dashboard's browser.
 */
export class HttpApi {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly fetch: typeof globalThis.fetch;
  private readonly timeoutMs: number;

  constructor(options: HttpApiOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token;
    this.fetch = options.fetch;
    this.timeoutMs = options.timeoutMs;
  }

  /** Sends a request and parses its JSON answer; error answers reject. */
  async request<T>(request: ApiRequest): Promise<ApiResponse<T>> {
    const { response, deadline } = await this.send(request);
    let text: string;
    try {
      text = await response.text();
    } catch (e) {
      throw this.failureOf(request, e, deadline);
    } finally {
      deadline.dispose();
    }
    if (!response.ok) throw this.errorAnswer(request, response.status, text);
    const { status, headers } = response;
    if (!text.trim()) return { status, headers, body: undefined as T };
    try {
      return { status, headers, body: JSON.parse(text) as T };
    } catch (e) {
      throw new BatonClientError(
        "UNEXPECTED_RESPONSE",
        `${this.describe(request)} answered ${status} with a body that is not JSON: ${snippet(text)}`,
        { httpStatus: status, cause: e },
      );
    }
  }

  /**
   * Sends a request and returns the response once its headers arrive, for streams: the timeout
   * covers only the wait for the headers, the caller's signal the whole stream. Error answers reject.
   */
  async stream(request: ApiRequest): Promise<Response> {
    const { response, deadline } = await this.send(request);
    deadline.stopTimer();
    if (response.ok) return response;
    let text: string;
    try {
      text = await response.text();
    } catch (e) {
      throw this.failureOf(request, e, deadline);
    } finally {
      deadline.dispose();
    }
    throw this.errorAnswer(request, response.status, text);
  }

  private async send(
    request: ApiRequest,
  ): Promise<{ response: Response; deadline: RequestDeadline }> {
    const deadline = new RequestDeadline(
      request.signal,
      this.timeoutMs + (request.extraTimeoutMs ?? 0),
    );
    try {
      const response = await this.fetch(this.urlOf(request), {
        method: request.method,
        headers: this.headersOf(request),
        ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
        signal: deadline.signal,
      });
      return { response, deadline };
    } catch (e) {
      deadline.dispose();
      throw this.failureOf(request, e, deadline);
    }
  }

  private failureOf(request: ApiRequest, e: unknown, deadline: RequestDeadline): unknown {
    // The caller's own abort is not an error of ours: it surfaces as the caller made it.
    if (request.signal?.aborted) return request.signal.reason;
    if (deadline.timedOut) {
      return new BatonClientError(
        "TIMEOUT",
        `${this.describe(request)} got no answer within ${deadline.timeoutMs} ms`,
        { retryable: true, cause: e },
      );
    }
    return new BatonClientError(
      "UNAVAILABLE",
      `cannot reach Baton at ${this.url} (${request.method} ${request.path}): ${reasonOf(e)}`,
      { retryable: true, cause: e },
    );
  }

  /** The server's `{error: {code, message, details}}`, or a code made from the status. */
  private errorAnswer(request: ApiRequest, status: number, text: string): BatonClientError {
    const retryable = isRetryableStatus(status);
    const reported = parseErrorBody(text);
    if (reported) {
      return new BatonClientError(reported.code, reported.message, {
        httpStatus: status,
        retryable,
        ...(reported.details !== undefined ? { details: reported.details } : {}),
      });
    }
    return new BatonClientError(
      `HTTP_${status}`,
      `${this.describe(request)} answered ${status}${text.trim() ? `: ${snippet(text)}` : ""}`,
      { httpStatus: status, retryable },
    );
  }

  private urlOf(request: ApiRequest): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (Array.isArray(value))
        for (const item of value as readonly string[]) params.append(key, item);
      else if (value !== undefined) params.set(key, String(value));
    }
    const query = params.toString();
    return `${this.url}${request.path}${query ? `?${query}` : ""}`;
  }

  private headersOf(request: ApiRequest): Record<string, string> {
    return {
      accept: "application/json",
      // Every state-changing request says JSON, even without a body: the server refuses others.
      ...(request.body !== undefined || request.method !== "GET"
        ? { "content-type": "application/json" }
        : {}),
      ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
      ...request.headers,
    };
  }

  private describe(request: ApiRequest): string {
    return `Baton at ${this.url} (${request.method} ${request.path})`;
  }
}

/** The caller's signal combined with the request's timeout, remembering which one fired. */
class RequestDeadline {
  readonly signal: AbortSignal;
  timedOut = false;
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly forward = (): void => this.controller.abort(this.outer?.reason);

  constructor(
    private readonly outer: AbortSignal | undefined,
    readonly timeoutMs: number,
  ) {
    this.signal = this.controller.signal;
    if (outer?.aborted) this.forward();
    else outer?.addEventListener("abort", this.forward, { once: true });
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  }

  stopTimer(): void {
    clearTimeout(this.timer);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener("abort", this.forward);
  }
}

function parseErrorBody(
  text: string,
): { code: string; message: string; details?: unknown } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message, details } = error as Record<string, unknown>;
  if (typeof code !== "string" || typeof message !== "string") return undefined;
  return details === undefined ? { code, message } : { code, message, details };
}

/** fetch says "fetch failed"; the reason worth reading (ECONNREFUSED, ENOTFOUND) is its cause. */
function reasonOf(e: unknown): string {
  const messages: string[] = [];
  for (let current: unknown = e, depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current.message && current.message !== "fetch failed") messages.push(current.message);
    current = current.cause;
  }
  return messages.join(": ") || (e instanceof Error ? e.message : String(e));
}

function snippet(text: string): string {
  const flat = text.trim().replace(/\s+/g, " ");
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
