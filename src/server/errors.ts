import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import {
  BatonError,
  ValidationError,
  httpStatusOf,
  isBatonError,
  type ErrorCode,
  type ErrorData,
} from "../common/index.js";
import { asStoreUnavailable } from "./store-unavailable.js";

/**
 * The one place where errors become HTTP answers: every error is
 * `{"error": {code, message, details?}}` with the status of its code in the registry of
 * common/errors.ts. Anything that is not a BatonError nor a known client mistake is a fault:
 * 500, logged with the request and the run, its message kept out of the answer.
 */

/** Where in the request a part failed validation, as the answer names it. */
type RequestPart = "body" | "query" | "path" | "headers";

const PART_NAMES: Record<string, RequestPart> = {
  body: "body",
  querystring: "query",
  params: "path",
  headers: "headers",
};

/**
 * Fields whose bad value has a code of its own, so that a bad runId in a path, a body or the
 * Idempotency-Key header is INVALID_RUN_ID whichever of them carried it.
 */
const FIELD_CODES: Record<string, ErrorCode> = {
  runId: "INVALID_RUN_ID",
  "idempotency-key": "INVALID_RUN_ID",
  status: "INVALID_STATUS",
  cron: "INVALID_CRON",
  timezone: "INVALID_TIMEZONE",
  overlap: "INVALID_SCHEDULE",
  catchup: "INVALID_SCHEDULE",
  tags: "INVALID_TAGS",
  tag: "INVALID_FILTER",
  createdAfter: "INVALID_FILTER",
  createdBefore: "INVALID_FILTER",
};

/** A request part that fails its zod schema: INVALID_ARGUMENT (or the field's code), with the issues. */
export function invalidRequest(
  httpPart: string | undefined,
  issues: readonly z.core.$ZodIssue[],
): BatonError {
  const part = PART_NAMES[httpPart ?? ""] ?? "body";
  const fieldCode = issues
    .map((issue) => FIELD_CODES[String(issue.path[0] ?? "")])
    .find((code) => code !== undefined);
  const pathOf = (issue: z.core.$ZodIssue): Array<string | number> =>
    issue.path.map((key) => (typeof key === "symbol" ? String(key) : key));
  const described = issues.slice(0, 3).map((issue) => {
    const where = issue.path.length ? `${pathOf(issue).join(".")}: ` : "";
    return where + issue.message;
  });
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : "";
  return new ValidationError(
    fieldCode ?? "INVALID_ARGUMENT",
    `invalid ${part}: ${described.join("; ")}${more}`,
    {
      in: part,
      issues: issues.map((issue) => ({
        path: pathOf(issue),
        code: issue.code,
        message: issue.message,
      })),
    },
  );
}

/** The JSON body could not be parsed; `reason` says where, when the parser told us. */
export function malformedJson(reason: string): BatonError {
  return new ValidationError("BAD_REQUEST", `the request body is not valid JSON: ${reason}`);
}

/** Fastify's own client errors (`FST_ERR_*`, status < 500), with a contract code each. */
function fromFastifyError(error: FastifyError, bodyLimit: number): BatonError | undefined {
  if (!error.code.startsWith("FST_") || (error.statusCode ?? 500) >= 500) return undefined;
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new BatonError(
        "PAYLOAD_TOO_LARGE",
        `the request body is larger than the limit of ${bodyLimit} bytes`,
        { details: { limit: bodyLimit } },
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new BatonError(
        "UNSUPPORTED_MEDIA_TYPE",
        "send the request body as JSON, with Content-Type: application/json",
      );
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return malformedJson("it does not parse");
    default:
      // Bad URL encoding, a bad Content-Length, a path parameter past the length limit…
      return new BatonError("BAD_REQUEST", error.message);
  }
}

export interface ErrorAnswer {
  status: number;
  body: { error: ErrorData };
  /** A fault of the server, not a mistake of the caller: log it. */
  isFault: boolean;
}

export function toErrorAnswer(e: unknown, requestId: string, bodyLimit: number): ErrorAnswer {
  const known =
    asStoreUnavailable(e) ??
    (isBatonError(e) ? e : undefined) ??
    (isFastifyError(e) ? fromFastifyError(e, bodyLimit) : undefined);
  if (known) {
    const status = httpStatusOf(known.code);
    return { status, body: { error: known.toJSON() }, isFault: status >= 500 };
  }
  return {
    status: 500,
    body: {
      error: {
        code: "INTERNAL",
        message: `internal error; the server log has the details under request id ${requestId}`,
        details: { requestId },
      },
    },
    isFault: true,
  };
}

/** Facts for the log line of a fault: the run and task the request was about. */
function requestFacts(request: FastifyRequest): Record<string, unknown> {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const facts: Record<string, unknown> = {};
  for (const key of ["runId", "workflow", "taskId", "service"]) {
    if (typeof params[key] === "string") facts[key] = params[key];
  }
  return facts;
}

/** Fastify's error handler: answers every error in the contract's shape. */
export function errorHandler(bodyLimit: number) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const answer = toErrorAnswer(error, request.id, bodyLimit);
    if (answer.body.error.code === "STORE_UNAVAILABLE") {
      // Expected while the database is away, and said once per request: no stack to log.
      request.log.warn({ reason: answer.body.error.message }, "store unavailable");
      reply.header("retry-after", "1");
    } else if (answer.isFault) {
      request.log.error({ err: error, ...requestFacts(request) }, "request failed");
    } else {
      request.log.debug({ code: answer.body.error.code }, "request refused");
    }
    if (answer.status === 401) reply.header("www-authenticate", 'Bearer realm="baton"');
    void reply.code(answer.status).send(answer.body);
  };
}

/** Unknown routes: 404 NOT_FOUND in the contract's shape. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split("?")[0] ?? request.url;
  void reply.code(404).send({
    error: { code: "NOT_FOUND", message: `no route ${request.method} ${path}` },
  });
}

function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === "string";
}
