import { request, type Agent } from "node:http";

/** One request as the fuzzer sends it: the path is sent byte for byte, not normalised. */
export interface RawRequest {
  method: string;
  /** Path and query string, as they go on the request line. */
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The answer was a stream (SSE): only its head was read. */
  isStream: boolean;
}

/**
 * Sends `req` to `baseUrl` with node:http, which (unlike fetch) neither resolves `..` nor
 * re-encodes the path. Streams are cut after their head. Rejects with `ClientRefused` when
 * node itself will not send the request (a character no request line may carry), which says
 * nothing about the server.
 */
export function sendRaw(
  baseUrl: string,
  req: RawRequest,
  agent: Agent,
  timeoutMs: number,
): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let sent;
    try {
      sent = request({
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers: {
          ...req.headers,
          ...(req.body !== undefined ? { "content-length": Buffer.byteLength(req.body) } : {}),
        },
        agent,
      });
    } catch (e) {
      reject(new ClientRefused(e));
      return;
    }
    sent.setTimeout(timeoutMs, () => sent.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    sent.on("error", reject);
    sent.on("response", (res) => {
      const isStream = String(res.headers["content-type"] ?? "").startsWith("text/event-stream");
      if (isStream) {
        res.destroy();
        sent.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: "", isStream });
        return;
      }
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", reject);
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, isStream }),
      );
    });
    try {
      sent.end(req.body);
    } catch (e) {
      reject(new ClientRefused(e));
    }
  });
}

/** node:http refused to send the request at all (an invalid header value or path character). */
export class ClientRefused extends Error {
  constructor(cause: unknown) {
    super(
      `node:http refused the request: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = "ClientRefused";
  }
}
