/** What the HTTP figures' processes (api-server-child.ts, queue-worker-child.ts) and their parent say to each other. */

export const ECHO_SERVICE = "bench-echo";
export const ECHO_COMMAND = "echo";

/** Wall-clock ms with sub-ms precision, comparable between processes on one machine. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface RoundTrip {
  runId: string;
  /** Just before `start`, preciseNow(). */
  startAt: number;
  /** The result held, preciseNow(). */
  resultAt: number;
}

export type ApiServerMessage =
  | { type: "listening"; url: string }
  | { type: "problem"; line: string }
  | { type: "round-trips"; runs: number; warmup: number }
  | { type: "round-trip-progress"; done: number; total: number }
  | { type: "round-trips-done"; trips: RoundTrip[]; problems: string[] }
  | { type: "close" };

export type WorkerMessage =
  | { type: "ready" }
  | { type: "problem"; line: string }
  | { type: "timings" }
  | { type: "timings-are"; handledAt: Record<string, number>; deliveries: number }
  | { type: "stop" };

