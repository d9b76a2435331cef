import type { Run } from "baton/client";
import { useState } from "react";
import { useApi } from "../lib/api.js";
import { formatDateTime } from "../lib/format.js";
import { useRunAction } from "../lib/run-action.js";
import { Dialog } from "./dialog.js";

/**
 * The seq of the operation whose compensation failed and now waits — for an operator (policy
 * `event`) or for its next attempt (policy `retry`) — or undefined when the run waits on anything
 * else. Only then can it be retried or skipped.
 */
export function failedCompensationOf(run: Run): number | undefined {
  const waiting = run.waitingOn;
  if (run.status !== "compensating" || !waiting) return undefined;
  return waiting.kind === "operator" || waiting.kind === "retry" ? waiting.compensates : undefined;
}

type Open = "retry" | "skip" | undefined;

/**
 * A rollback stopped at a compensation that failed: which one and why, and the two ways on —
 * run it again (once its cause is fixed), or skip it, leaving that operation undone. Each is
 * confirmed in a dialog that says what will happen, and told in a message.
 */
export function FailedCompensation({
  run,
  seq,
  onActed,
}: {
  run: Run;
  seq: number;
  onActed: () => void;
}) {
  const api = useApi();
  const [open, setOpen] = useState<Open>(undefined);
  const { isBusy, act } = useRunAction(() => {
    setOpen(undefined);
    onActed();
  });
  const waiting = run.waitingOn;
  const step = waiting?.step || run.steps.find((s) => s.seq === seq)?.name || `#${seq}`;
  const why = waiting?.lastError?.message ?? waiting?.reason ?? "it failed";
  const nextAttempt = waiting?.kind === "retry" ? waiting.until : undefined;

  return (
    <section
      className="callout callout-error failed-compensation"
      aria-labelledby="failed-compensation-title"
      data-testid="failed-compensation"
    >
      <h2 id="failed-compensation-title">
        Compensation of <span className="mono">{step}</span> failed: {why}
      </h2>
      <p>
        The rollback stopped at <span className="mono">{step}</span> (#{seq})
        {nextAttempt ? (
          <>
            {" "}
            and tries it again at <time dateTime={nextAttempt}>{formatDateTime(nextAttempt)}</time>
          </>
        ) : (
          " and waits for an operator"
        )}
        . Retry it once its cause is fixed, or skip it: it stays undone, the remaining compensations
        run, and the run ends <strong>failed</strong>.
      </p>
      <div className="actions" role="group" aria-label="Failed compensation">
        <button type="button" className="button button-primary" onClick={() => setOpen("retry")}>
          Retry compensation…
        </button>
        <button type="button" className="button button-danger" onClick={() => setOpen("skip")}>
          Skip compensation…
        </button>
      </div>

      {open === "retry" && (
        <Dialog
          title="Retry this compensation?"
          description={
            <p>
              The compensation of <span className="mono">{step}</span> (#{seq}) runs again now. If
              it succeeds the rollback goes on; if it fails for good again, the run waits here
              again.
            </p>
          }
          submitLabel="Retry compensation"
          isBusy={isBusy}
          onClose={() => setOpen(undefined)}
          onSubmit={() =>
            void act(
              "retry the compensation",
              () => api.call((client) => client.retry(run.runId)),
              `Retry requested: the compensation of ${step} runs again.`,
            )
          }
        />
      )}
      {open === "skip" && (
        <Dialog
          title="Skip this compensation?"
          description={
            <p>
              <span className="mono">{step}</span> (#{seq}) of{" "}
              <span className="mono">{run.runId}</span> stays <strong>undone</strong>: its
              compensation is not tried again. The remaining compensations run, then the run ends{" "}
              <strong>failed</strong> (PARTIALLY_COMPENSATED), naming what was not undone. This
              cannot be undone.
            </p>
          }
          submitLabel="Skip compensation"
          submitKind="danger"
          isBusy={isBusy}
          onClose={() => setOpen(undefined)}
          onSubmit={() =>
            void act(
              "skip the compensation",
              () => api.call((client) => client.skipCompensation(run.runId, seq)),
              `Skip recorded: ${step} stays undone; the rollback goes on.`,
            )
          }
        />
      )}
    </section>
  );
}
