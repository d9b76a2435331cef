import type { ErrorData } from "../common/index.js";

/** Signals Baton sends itself (cancels, operator actions) never count against a run's limit. */
export const RESERVED_SIGNAL_LIKE = "baton:%";

/** The answer to a signal past its run's limit (insertSignal's `maxPending`): nothing written. */
export function tooManySignals(runId: string, limit: number): ErrorData {
  return {
    code: "TOO_MANY_SIGNALS",
    message: `run ${runId} already holds ${limit} signals it has not consumed (the limit); nothing was written`,
    details: { runId, limit },
  };
}
