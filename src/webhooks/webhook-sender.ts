import { Webhook } from "standardwebhooks";
import type { ClaimedDelivery } from "../store/index.js";
import type { AttemptResult } from "./retry-schedule.js";

/** Sends one attempt of a delivery; never rejects (a failure is a result). */
export type SendWebhook = (
  delivery: ClaimedDelivery,
  sentAt: Date,
  stop: AbortSignal,
) => Promise<AttemptResult>;

/**
 * POSTs the delivery's body to its subscription's URL, signed as the Standard Webhooks
 * specification says: `webhook-id` (the event's id, the same on every attempt), `webhook-timestamp`
 * (seconds) and `webhook-signature` (`v1,` + HMAC-SHA256 of `id.timestamp.body`). Redirects are
 * not followed: a 3xx is not a delivery. An answer not received within `timeoutMs` is a failure.
 */
export function httpSender(options: { timeoutMs: number }): SendWebhook {
  return async (delivery, sentAt, stop) => {
    try {
      const signature = new Webhook(delivery.secret).sign(
        delivery.eventKey,
        sentAt,
        delivery.payload,
      );
      const response = await fetch(delivery.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.any([stop, AbortSignal.timeout(options.timeoutMs)]),
        headers: {
          "content-type": "application/json",
          "user-agent": "baton-webhooks",
          "webhook-id": delivery.eventKey,
          "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
          "webhook-signature": signature,
        },
        body: delivery.payload,
      });
      // The body is not needed; reading it to the end frees the connection for reuse.
      await response.arrayBuffer().catch(() => undefined);
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), sentAt.getTime());
      return {
        kind: "answered",
        statusCode: response.status,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    } catch (e) {
      if (stop.aborted) return { kind: "unreachable", error: "the sending node shut down" };
      return { kind: "unreachable", error: describeFailure(e, options.timeoutMs) };
    }
  };
}

/** A Retry-After header (seconds, or an HTTP date) as ms from `now`. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeFailure(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause =
    e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string")
    return `${cause.code}${typeof cause.message === "string" ? `: ${cause.message}` : ""}`;
  return e instanceof Error ? e.message : String(e);
}
