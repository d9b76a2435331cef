import { RunStatus, isTerminal, type Run } from "baton/client";

/** Every run status, in lifecycle order (the filter menu's order). */
export const STATUSES: readonly RunStatus[] = [
  RunStatus.Pending,
  RunStatus.Running,
  RunStatus.Waiting,
  RunStatus.Compensating,
  RunStatus.Completed,
  RunStatus.Compensated,
  RunStatus.Failed,
  RunStatus.Cancelled,
];

export function isRunStatus(value: string | null | undefined): value is RunStatus {
  return value !== null && value !== undefined && (STATUSES as readonly string[]).includes(value);
}

/** The statuses that count as a terminal failure (each published `run.failed`). */
export const FAILURE_STATUSES: readonly RunStatus[] = [RunStatus.Failed, RunStatus.Compensated];

/** How long a run took, or has been going: created → last update when ended, → now otherwise. */
export function runDurationMs(
  run: Pick<Run, "status" | "createdAt" | "updatedAt">,
  now: number,
): number {
  const start = Date.parse(run.createdAt);
  const end = isTerminal(run.status) ? Date.parse(run.updatedAt) : now;
  return Math.max(0, end - start);
}
