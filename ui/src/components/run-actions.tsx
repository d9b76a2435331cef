import { isTerminal, type Run } from "baton/client";
import { useState } from "react";
import { useApi } from "../lib/api.js";
import { useRunAction } from "../lib/run-action.js";
import { Dialog } from "./dialog.js";

type Open = "cancel" | "retry" | "signal" | undefined;

/**
 * What an operator can do to a run, each behind a dialog that says what will happen: cancel
 * (compensates, then ends cancelled), retry a failed run (resumes where it stopped), send a
 * signal. The outcome is told in a message; the page shows the run change as it happens.
 */
export function RunActions({ run, onActed }: { run: Run; onActed: () => void }) {
  const api = useApi();
  const [open, setOpen] = useState<Open>(undefined);
  const { isBusy, act } = useRunAction(() => {
    setOpen(undefined);
    onActed();
  });
  const isEnded = isTerminal(run.status);

  return (
    <div className="actions" role="group" aria-label="Run actions">
      {!isEnded && (
        <button type="button" className="button" onClick={() => setOpen("signal")}>
          Send signal…
        </button>
      )}
      {run.status === "failed" && (
        <button type="button" className="button button-primary" onClick={() => setOpen("retry")}>
          Retry…
        </button>
      )}
      {!isEnded && run.status !== "compensating" && (
        <button type="button" className="button button-danger" onClick={() => setOpen("cancel")}>
          Cancel run…
        </button>
      )}

      {open === "retry" && (
        <Dialog
          title="Retry this run?"
          description={
            <p>
              <span className="mono">{run.runId}</span> resumes where it stopped: completed steps
              are not run again; the operation whose failure ended the run runs again.
            </p>
          }
          submitLabel="Retry run"
          isBusy={isBusy}
          onClose={() => setOpen(undefined)}
          onSubmit={() =>
            void act(
              "retry the run",
              () => api.call((client) => client.retry(run.runId)),
              `Retry requested: ${run.runId} resumes where it stopped.`,
            )
          }
        />
      )}
      {open === "cancel" && (
        <CancelDialog
          run={run}
          isBusy={isBusy}
          onClose={() => setOpen(undefined)}
          onSubmit={(reason) =>
            void act(
              "cancel the run",
              () => api.call((client) => client.cancel(run.runId, reason ? { reason } : {})),
              `Cancel requested: ${run.runId} compensates, then ends cancelled.`,
            )
          }
        />
      )}
      {open === "signal" && (
        <SignalDialog
          run={run}
          isBusy={isBusy}
          onClose={() => setOpen(undefined)}
          onSubmit={(name, payload) =>
            void act(
              "send the signal",
              () => api.call((client) => client.signal(run.runId, name, payload)),
              `Signal ${name} sent to ${run.runId}.`,
            )
          }
        />
      )}
    </div>
  );
}

function CancelDialog({
  run,
  isBusy,
  onClose,
  onSubmit,
}: {
  run: Run;
  isBusy: boolean;
  onClose: () => void;
  onSubmit: (reason: string) => void;
}) {
  const [reason, setReason] = useState("");
  return (
    <Dialog
      title="Cancel this run?"
      description={
        <p>
          <span className="mono">{run.runId}</span> stops where it is; the compensations of its
          completed steps run in reverse order, then it ends <strong>cancelled</strong>. This cannot
          be undone.
        </p>
      }
      submitLabel="Cancel run"
      submitKind="danger"
      isBusy={isBusy}
      onClose={onClose}
      onSubmit={() => onSubmit(reason.trim())}
    >
      <div className="field">
        <label htmlFor="cancel-reason">Reason (optional, kept in the journal)</label>
        <input
          id="cancel-reason"
          value={reason}
          autoFocus
          onChange={(event) => setReason(event.target.value)}
        />
      </div>
    </Dialog>
  );
}

function SignalDialog({
  run,
  isBusy,
  onClose,
  onSubmit,
}: {
  run: Run;
  isBusy: boolean;
  onClose: () => void;
  onSubmit: (name: string, payload: unknown) => void;
}) {
  const awaited = run.waitingOn?.kind === "signal" ? run.waitingOn.signal : undefined;
  const [name, setName] = useState(awaited ?? "");
  const [payload, setPayload] = useState("");
  const [problem, setProblem] = useState<{ field: "name" | "payload"; text: string } | undefined>();
  const submit = (): void => {
    if (!name.trim()) {
      setProblem({ field: "name", text: "Name the signal." });
      return;
    }
    let value: unknown = undefined;
    if (payload.trim()) {
      try {
        value = JSON.parse(payload);
      } catch (e) {
        setProblem({
          field: "payload",
          text: `The payload is not JSON: ${e instanceof Error ? e.message : String(e)}`,
        });
        return;
      }
    }
    onSubmit(name.trim(), value);
  };
  return (
    <Dialog
      title="Send a signal"
      description={
        <p>
          {awaited ? (
            <>
              The run waits for the signal <strong className="mono">{awaited}</strong>.
            </>
          ) : (
            <>A signal the run does not wait for yet is kept until it does.</>
          )}
        </p>
      }
      submitLabel="Send signal"
      isBusy={isBusy}
      onClose={onClose}
      onSubmit={submit}
    >
      <div className="field">
        <label htmlFor="signal-name">Signal name</label>
        <input
          id="signal-name"
          value={name}
          autoFocus={!awaited}
          spellCheck={false}
          aria-invalid={problem?.field === "name"}
          aria-describedby={problem?.field === "name" ? "signal-problem" : undefined}
          onChange={(event) => {
            setName(event.target.value);
            setProblem(undefined);
          }}
        />
      </div>
      <div className="field">
        <label htmlFor="signal-payload">Payload (JSON, optional)</label>
        <textarea
          id="signal-payload"
          className="mono"
          rows={5}
          value={payload}
          autoFocus={Boolean(awaited)}
          spellCheck={false}
          placeholder='{"approved": true}'
          aria-invalid={problem?.field === "payload"}
          aria-describedby={problem?.field === "payload" ? "signal-problem" : undefined}
          onChange={(event) => {
            setPayload(event.target.value);
            setProblem(undefined);
          }}
          onKeyDown={(event) => {
            // Enter makes a new line here; Ctrl/Cmd+Enter sends.
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
              event.preventDefault();
              submit();
            }
          }}
        />
      </div>
      {problem && (
        <p id="signal-problem" className="field-problem" role="alert">
          {problem.text}
        </p>
      )}
    </Dialog>
  );
}
