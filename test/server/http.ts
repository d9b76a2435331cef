import type { FastifyInstance } from "fastify";
import { expect } from "vitest";
import type { ErrorData, HistoryEvent, Run, ServiceInfo, Task } from "../../src/common/index.js";
import { ErrorBodySchema, type WorkflowSummary } from "../../src/server/schemas/wire.js";

/**
 * Every field any JSON answer of the API may have, for reading answers in tests without
 * casts; which of them an answer really has is what the tests' expectations check.
 */
export type ApiBody = Run & {
  error: ErrorData;
  runs: Run[];
  nextCursor?: string;
  events: HistoryEvent[];
  tasks: Task[];
  workflows: WorkflowSummary[];
  services: ServiceInfo[];
  leaseExpiresAt: string;
};

export interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: ApiBody;
  text: string;
}

/**
 * One request through fastify's inject: JSON in (unless `raw` is given), JSON out when it is
 * JSON. Requests other than GET say `Content-Type: application/json` as the server requires,
 * unless `headers` names another or `noContentType` leaves it out.
 */
export async function call(
  app: FastifyInstance,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  url: string,
  options: {
    json?: unknown;
    raw?: string;
    headers?: Record<string, string>;
    noContentType?: boolean;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  let payload: string | undefined;
  if (options.raw !== undefined) payload = options.raw;
  else if (options.json !== undefined) payload = JSON.stringify(options.json);
  if ((method !== "GET" || options.json !== undefined) && !options.noContentType) {
    headers["content-type"] ??= "application/json";
  }
  const response = await app.inject({
    method,
    url,
    headers,
    ...(payload !== undefined ? { payload } : {}),
  });
  const isJson = String(response.headers["content-type"] ?? "").startsWith("application/json");
  return {
    status: response.statusCode,
    headers: response.headers,
    body: (isJson ? response.json() : undefined) as ApiBody,
    text: response.body,
  };
}

/** The contract's error shape, exactly: `{"error": {code, message, details?}}`, no stack. */
export function expectError(answer: Answer, status: number, code: string): void {
  expect({ status: answer.status, code: answer.body?.error?.code }).toEqual({ status, code });
  expect(Object.keys(answer.body)).toEqual(["error"]);
  expect(ErrorBodySchema.safeParse(answer.body).success).toBe(true);
  const keys = Object.keys(answer.body.error);
  expect(keys.every((key) => ["code", "message", "details"].includes(key))).toBe(true);
  expect(answer.body.error.message).toEqual(expect.stringMatching(/\S/));
  expect(answer.text).not.toMatch(/\n\s+at /); // no stack trace
}
