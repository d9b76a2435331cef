import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** One request as the receiver got it. */
export interface Received {
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/**
 * A webhook receiver on a real loopback HTTP server, written as a user would: it verifies each
 * request with the standardwebhooks package's `Webhook.verify`, answers as `plan` says (by the
 * request's number, 1 for the first), and applies each event's effect once, dropping duplicates
 * by `webhook-id`. `plan` may return "hang": no answer until the receiver closes.
 */
export class WebhookReceiver {
  readonly requests: Received[] = [];
  /** The effects applied, one per distinct webhook-id that got a 2xx. */
  readonly effects = new Map<string, unknown>();
  secret: string | undefined;
  private readonly server: Server;
  private readonly hanging = new Set<() => void>();

  constructor(private plan: (n: number, id: string) => number | "hang" = () => 200) {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const id = String(request.headers["webhook-id"]);
        const answer = this.plan(this.requests.length + 1, id);
        if (answer === "hang") {
          this.requests.push({ id, headers: request.headers, body, status: 0 });
          this.hanging.add(() => response.destroy());
          return;
        }
        let status = answer;
        try {
          const payload = new Webhook(this.secret ?? "").verify(body, headersOf(request.headers));
          if (status >= 200 && status < 300 && !this.effects.has(id)) this.effects.set(id, payload);
        } catch {
          status = 401;
        }
        this.requests.push({ id, headers: request.headers, body, status });
        response.writeHead(status, { "content-type": "text/plain" }).end(String(status));
      });
    });
  }

  setPlan(plan: (n: number, id: string) => number | "hang"): void {
    this.plan = plan;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  async close(): Promise<void> {
    for (const cut of this.hanging) cut();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The three Standard Webhooks headers of a request, as `Webhook.verify` takes them. */
export function headersOf(headers: IncomingHttpHeaders): Record<string, string> {
  return {
    "webhook-id": String(headers["webhook-id"]),
    "webhook-timestamp": String(headers["webhook-timestamp"]),
    "webhook-signature": String(headers["webhook-signature"]),
  };
}

/** A seeded source in [0, 1) (mulberry32), for the retry jitter. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
