import { BatonError, StepFailedError, TransientError } from "../../common/index.js";

/** What a failure message needs to name the call that failed. */
export interface CallSite {
  /** `service.command`, as the run's steps name the call. */
  call: string;
  url: string;
}

/**
 * Mistakes in how the request was built: the same request fails the same way every time.
 * Every other failure to get an answer (refused, reset, DNS, connect or header timeout) is a
 * failure of the network, not of the command, and worth another attempt: the service may be
 * restarting or a load balancer may have dropped an idle connection.
 */
const PERMANENT_NETWORK_CODES = new Set([
  "UND_ERR_INVALID_ARG",
  "UND_ERR_NOT_SUPPORTED",
  "ERR_INVALID_URL",
]);

/** The status is a business answer: the service understood the command and refused it. */
export function isBusinessFailure(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** 5xx, 408 and 429: the service may answer differently if asked again later. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The error for a non-2xx answer (docs/workers.md). A body shaped like Baton's own errors,
 * `{"error": {"code", "message", "details"?}}`, supplies the code and message, so a service can
 * fail a run with `OUT_OF_STOCK` rather than `HTTP_409`.
 */
export function errorForStatus(
  site: CallSite,
  status: number,
  statusText: string,
  body: string,
  retryAfter: string | undefined,
): BatonError {
  const reported = parseErrorBody(body);
  const answered = `${site.call}: POST ${site.url} answered ${status}${statusText ? ` ${statusText}` : ""}`;
  const details = {
    httpStatus: status,
    url: site.url,
    ...(reported?.details !== undefined ? { serviceDetails: reported.details } : {}),
  };
  if (isBusinessFailure(status)) {
    return new StepFailedError(reported?.message ?? withSnippet(answered, body), {
      code: reported?.code ?? `HTTP_${status}`,
      details,
    });
  }
  if (isRetryableStatus(status)) {
    const retryAfterMs = parseRetryAfter(retryAfter, Date.now());
    return new TransientError(
      reported?.message ? `${answered}: ${reported.message}` : withSnippet(answered, body),
      {
        code: `HTTP_${status}`,
        details,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      },
    );
  }
  // 1xx that undici did not absorb and 3xx: redirects are not followed, because a command must
  // reach exactly the service it was addressed to; asking again will not change the answer.
  return new BatonError(
    `HTTP_${status}`,
    `${answered}; only 2xx is a reply (redirects are not followed: point the service's baseUrl at its final address)`,
    { details },
  );
}

/** A 2xx whose body is not JSON: the service broke the contract; retrying will not fix it. */
export function errorForBadOutput(site: CallSite, status: number, body: string): BatonError {
  return new BatonError(
    "OUTPUT_NOT_JSON",
    withSnippet(
      `${site.call}: POST ${site.url} answered ${status} with a body that is not JSON`,
      body,
    ),
    { details: { httpStatus: status, url: site.url } },
  );
}

/** The reply was larger than the transport accepts; the journal would have to keep it. */
export function errorForOversizedOutput(site: CallSite, limitBytes: number): BatonError {
  return new BatonError(
    "OUTPUT_TOO_LARGE",
    `${site.call}: POST ${site.url} answered with more than ${limitBytes} bytes`,
    { details: { url: site.url, limitBytes } },
  );
}

/** The call never got an answer: refused, reset, unresolvable, or out of time. */
export function errorForNetworkFailure(site: CallSite, e: unknown): BatonError {
  const code = networkCodeOf(e);
  const reason = e instanceof Error ? e.message || e.name : String(e);
  const message = `${site.call}: POST ${site.url} failed: ${reason}${code && !reason.includes(code) ? ` (${code})` : ""}`;
  const details = { url: site.url, ...(code ? { networkCode: code } : {}) };
  if (code && PERMANENT_NETWORK_CODES.has(code)) {
    return new BatonError("HTTP_REQUEST_INVALID", message, { details, cause: e });
  }
  return new TransientError(message, { code: "UNAVAILABLE", details, cause: e });
}

export function errorForTimeout(site: CallSite, timeoutMs: number): TransientError {
  return new TransientError(
    `${site.call}: POST ${site.url} did not answer within ${timeoutMs} ms`,
    { code: "STEP_TIMEOUT", details: { url: site.url, timeoutMs } },
  );
}

/**
 * `Retry-After` as milliseconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
 * Unparseable values are ignored rather than failing the call over a header.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  // An HTTP date names its day and month; Date.parse alone would also take "-5" as a year.
  if (!/[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

function parseErrorBody(
  body: string,
): { code?: string; message?: string; details?: unknown } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message, details } = error as Record<string, unknown>;
  return {
    ...(typeof code === "string" && code.length > 0 ? { code } : {}),
    ...(typeof message === "string" && message.length > 0 ? { message } : {}),
    ...(details !== undefined ? { details } : {}),
  };
}

/** The start of a body, for messages: enough to recognise an HTML error page or a stack. */
function withSnippet(message: string, body: string): string {
  const text = body.trim().replace(/\s+/g, " ");
  if (!text) return message;
  return `${message}: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

/** The errno or undici code, which Node may put on the error itself or on its cause. */
function networkCodeOf(e: unknown): string | undefined {
  for (let current: unknown = e, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
