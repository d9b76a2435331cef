/**
 * A direct-call service as Baton calls it (docs/workers.md), on node:http: `POST /{command}` with a JSON
 * body, answered with JSON; the `Idempotency-Key` header makes a retried command return its
 * first answer; 4xx refuses for good, 5xx asks Baton to retry. Also `GET /_effects` (what the
 * service did, per key) and `GET /healthz`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Ledger } from "./service-kit.js";

/** Handles one command; throw BusinessError to refuse, any other error to be retried. */
export type CommandHandler = (input: never, call: { runId: string; key: string }) => unknown;

export interface HttpServiceOptions {
  service: string;
  port: number;
  ledger: Ledger;
  commands: Record<string, CommandHandler>;
}

/** Starts listening on 127.0.0.1 and resolves with the server and its port. */
export async function serveCommands(
  options: HttpServiceOptions,
): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch((e: unknown) =>
      answer(response, 500, { error: { code: "INTERNAL", message: String(e) } }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject).listen(options.port, "127.0.0.1", resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function handle(
  { service, ledger, commands }: HttpServiceOptions,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? "/").split("?")[0] ?? "/";
  if (request.method === "GET" && path === "/healthz") return answer(response, 200, { ok: true });
  if (request.method === "GET" && path === "/_effects") {
    return answer(response, 200, { effects: ledger.list() });
  }
  const command = path.slice(1);
  const handler = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (request.method !== "POST" || !handler) {
    return refuse(response, 404, "UNKNOWN_COMMAND", `${service} has no command ${path}`);
  }
  const key = request.headers["idempotency-key"];
  if (typeof key !== "string" || key === "") {
    return refuse(response, 400, "IDEMPOTENCY_KEY_REQUIRED", "send an Idempotency-Key header");
  }
  let input: unknown;
  try {
    input = JSON.parse(await readBody(request)) as unknown;
  } catch {
    return refuse(response, 400, "BAD_JSON", "the body must be JSON");
  }
  const runId = String(request.headers["baton-run-id"] ?? "");
  try {
    const outcome = await ledger.once(key, command, { runId }, () =>
      (handler as (input: unknown, call: { runId: string; key: string }) => unknown)(input, {
        runId,
        key,
      }),
    );
    if (outcome.ok) return answer(response, 200, outcome.output);
    return refuse(response, outcome.status, outcome.code, outcome.message);
  } catch (e) {
    // Not a refusal: a fault worth retrying. Retry-After tells Baton when to ask again.
    response.setHeader("retry-after", "1");
    return refuse(response, 503, "UNAVAILABLE", e instanceof Error ? e.message : String(e));
  }
}

function refuse(response: ServerResponse, status: number, code: string, message: string): void {
  answer(response, status, { error: { code, message } });
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body ?? null));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8") || "null";
}
