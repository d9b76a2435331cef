/**
 * W3C trace context for a run's calls. The trace id is derived from the run id, so every call
 * of a run — across retries, replays and restarts — lands in one trace without storing it.
 */
export function traceIdOf(runId: string): string {
  return fnv64(runId, 0xcbf29ce484222325n) + fnv64(runId, 0x84222325cbf29ce4n);
}

/** `traceparent` for one attempt of the operation at `seq`. */
export function traceparentFor(runId: string, seq: number, attempt = 1): string {
  const spanId = fnv64(`${runId}:${seq}:${attempt}`, 0x9e3779b97f4a7c15n);
  return `00-${traceIdOf(runId)}-${spanId}-01`;
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
