import { ValidationError, parseDuration } from "../common/index.js";
import type { WorkflowDefinition } from "./context.js";

/** The default retention of a node's runs: 30 days. `0` keeps runs forever. */
export const DEFAULT_RETENTION_MS = 30 * 86_400_000;

/**
 * A workflow's `retention` option in ms (a duration such as "30d", or ms), checked when the
 * workflow is defined: a mistake there is found before anything runs.
 */
export function parseRetention(workflow: string, retention: string | number): number {
  try {
    return parseDuration(retention, "retention");
  } catch (e) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      `workflow ${workflow}: ${(e as Error).message}`,
    );
  }
}

/** How long a workflow's runs are kept once they end: its own retention, else the node's. */
export function retentionOf(definition: WorkflowDefinition | undefined, defaultMs: number): number {
  const own = definition?.options.retention;
  return own === undefined ? defaultMs : parseRetention(definition!.name, own);
}

/** When a run that ends at `endedAt` may be deleted; null keeps it (retention 0). */
export function deleteAfter(endedAt: number, retentionMs: number): number | null {
  return retentionMs > 0 ? endedAt + retentionMs : null;
}

/**
 * When the sweeper looks next, after a batch: at once if the batch was full (more are due), at
 * the next expiry if it lies ahead, after `recheckMs` if runs are due that could not go (children
 * whose parent lives, rows another node's sweep holds). If no run expires: never on a single node
 * (every run that ends there tells it), after `idleRecheckMs` with several nodes (another node's
 * runs may end, and that node may die before it deletes them). No look is later than that either.
 */
export function nextSweepAt(facts: {
  now: number;
  batchWasFull: boolean;
  nextExpiry: number | undefined;
  recheckMs: number;
  idleRecheckMs?: number;
}): number | undefined {
  if (facts.batchWasFull) return facts.now;
  const idle = facts.idleRecheckMs === undefined ? undefined : facts.now + facts.idleRecheckMs;
  if (facts.nextExpiry === undefined) return idle;
  const next = facts.nextExpiry > facts.now ? facts.nextExpiry : facts.now + facts.recheckMs;
  return idle === undefined ? next : Math.min(next, idle);
}
