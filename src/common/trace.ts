/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) without the OpenTelemetry API: ids
 * derived from a run id, and the `traceparent` header parsed and written.
 */

/** A parsed `traceparent`: whose trace, which span is the parent, and whether it is sampled. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/**
 * The trace id of a run started without a `traceparent`: derived from the run id, so every span
 * of the run — across retries, replays, restarts and nodes — lands in one trace without storing it.
 */
export function traceIdOf(runId: string): string {
  return fnv64(runId, 0xcbf29ce484222325n) + fnv64(runId, 0x84222325cbf29ce4n);
}

/** A span id derived from `text`: the same on every node and after every restart. */
export function spanIdOf(text: string): string {
  return fnv64(text, 0x9e3779b97f4a7c15n);
}

/**
 * Where the engine puts, in the OpenTelemetry context a span starts in, the span id it asks that
 * span to have. An id generator that honours it (the one `baton server` sets up) lets a span be
 * made again with the id a worker was already told, by another process after a restart.
 */
export const SPAN_ID_CONTEXT_KEY: symbol = Symbol.for("baton.span_id");

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

/**
 * Parses a `traceparent` header; undefined for anything that is not one, because the
 * specification says an invalid header is ignored (a new trace starts), not refused.
 */
export function parseTraceparent(value: unknown): TraceParent | undefined {
  if (typeof value !== "string" || value.length > 512) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const [, version = "", traceId = "", spanId = "", flags = "", rest] = match;
  // Version ff is forbidden; version 00 has exactly four fields (later versions may add some).
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) };
}

/** The `traceparent` header (version 00) naming `spanId` of `traceId` as the parent. */
export function formatTraceparent(traceId: string, spanId: string, traceFlags: number): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

function fnv64(text: string, seed: bigint): string {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  // All-zero ids are invalid in W3C trace context.
  return (hash === 0n ? 1n : hash).toString(16).padStart(16, "0");
}
