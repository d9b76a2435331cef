/** One delivery of a queued command to a worker (docs/workers.md). */
export interface Task {
  /** Names this delivery; a redelivery after a lost lease gets a new one. */
  taskId: string;
  service: string;
  command: string;
  input: unknown;
  runId: string;
  workflow: string;
  /** `{runId}:{seq}`: the same on every delivery. */
  idempotencyKey: string;
  /** 1 on the first delivery. */
  attempt: number;
  leaseExpiresAt: string;
  traceparent: string;
}

/** A service as operators see it (GET /v1/services). */
export interface ServiceInfo {
  name: string;
  transport: "http" | "queue" | "local";
  /** Commands waiting for a worker. */
  queueDepth: number;
  /** Commands a worker holds right now (queue) or calls in progress (http, local). */
  inFlight: number;
  /** Workers that polled within the last 30 s (any node's, with several nodes). */
  workers: number;
  completed: number;
  failures: number;
  /**
   * Latency of recent commands, ms: this process's, or with several nodes every node's recent
   * samples together; `completed` and `failures` add every node's up likewise.
   */
  latencyMs: { p50: number | null; p95: number | null };
  baseUrl?: string;
  leaseMs?: number;
}
