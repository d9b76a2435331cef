import { BatonClientError, isTerminal, type HistoryEvent, type Run } from "baton/client";
import { useCallback, useEffect, useMemo, useState } from "react";
import { FailedCompensation, failedCompensationOf } from "../components/failed-compensation.js";
import { JournalTable } from "../components/journal-table.js";
import { JsonView } from "../components/json-view.js";
import { PathGraph } from "../components/path-graph.js";
import { RunActions } from "../components/run-actions.js";
import { StatusBadge } from "../components/status-badge.js";
import { Timeline } from "../components/timeline.js";
import { describeError, useApi } from "../lib/api.js";
import { formatAgo, formatDateTime, formatDuration } from "../lib/format.js";
import { useNow } from "../lib/hooks.js";
import { buildPath } from "../lib/path-model.js";
import { Link, runHref, runsHref } from "../lib/router.js";
import { runDurationMs } from "../lib/statuses.js";
import { buildTimeline } from "../lib/timeline-model.js";

/** While a run is not terminal and its stream is down, it is read again this often. */
const POLL_MS = 2_000;

/**
 * One run: what it is doing, its steps on a timeline and as a path, its data and journal, and
 * the actions it can take. Follows the run's stream while it is not terminal; the journal is
 * read again after each change.
 */
export function RunPage({ runId, onTitle }: { runId: string; onTitle: (title: string) => void }) {
  const api = useApi();
  const [run, setRun] = useState<Run | undefined>(undefined);
  const [history, setHistory] = useState<HistoryEvent[]>([]);
  const [problem, setProblem] = useState<{ notFound: boolean; message: string } | undefined>();
  const [selectedSeq, setSelectedSeq] = useState<number | undefined>(undefined);
  /** Bumped after an action, so that a stream that ended follows the run again. */
  const [followKey, setFollowKey] = useState(0);
  const isRunning = run !== undefined && !isTerminal(run.status);
  const now = useNow(isRunning ? 500 : 10_000);

  useEffect(() => onTitle(runId), [onTitle, runId]);

  const readHistory = useCallback(
    async (signal: AbortSignal) => {
      const events = await api.call((client) => client.history(runId));
      if (!signal.aborted) setHistory(events);
    },
    [api, runId],
  );

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    let historyTimer: number | undefined;
    let isReading = false;
    let isStale = false;
    /** Reads the journal after a change; changes during a read lead to one more read. */
    const refreshHistory = (): void => {
      if (isReading) {
        isStale = true;
        return;
      }
      isReading = true;
      readHistory(signal)
        .catch(() => {
          // The next change or poll reads it again.
        })
        .finally(() => {
          isReading = false;
          if (isStale && !signal.aborted) {
            isStale = false;
            window.clearTimeout(historyTimer);
            historyTimer = window.setTimeout(refreshHistory, 100);
          }
        });
    };
    const show = (next: Run): void => {
      setRun(next);
      setProblem(undefined);
      window.clearTimeout(historyTimer);
      historyTimer = window.setTimeout(refreshHistory, 50);
    };
    const follow = async (): Promise<void> => {
      try {
        const first = await api.call((client) => client.getRun(runId));
        if (signal.aborted) return;
        show(first);
        let last = first;
        while (!signal.aborted && !isTerminal(last.status)) {
          try {
            await api.follow(
              (client, streamSignal) => client.streamRun(runId, { signal: streamSignal }),
              (next) => {
                last = next;
                show(next);
              },
              signal,
            );
          } catch {
            // A stream that cannot stay up: poll instead, below.
          }
          if (signal.aborted) return;
          // The stream ended: read the run once more (a retry may have raced its last snapshot).
          await new Promise((resolve) =>
            window.setTimeout(resolve, isTerminal(last.status) ? 0 : POLL_MS),
          );
          if (signal.aborted) return;
          last = await api.call((client) => client.getRun(runId));
          if (!signal.aborted) show(last);
        }
      } catch (e) {
        if (signal.aborted) return;
        const notFound = e instanceof BatonClientError && e.code === "RUN_NOT_FOUND";
        setProblem({ notFound, message: describeError(e) });
      }
    };
    void follow();
    return () => {
      controller.abort();
      window.clearTimeout(historyTimer);
    };
  }, [api, runId, readHistory, followKey]);

  const timeline = useMemo(
    () => (run ? buildTimeline(run, history, now) : undefined),
    [run, history, now],
  );
  const graph = useMemo(
    () => (run && timeline ? buildPath(timeline, run.status) : undefined),
    [run, timeline],
  );
  const refollow = useCallback(() => setFollowKey((key) => key + 1), []);
  const selectedStep = run?.steps.find((step) => step.seq === selectedSeq);
  const selectedRow = timeline?.rows
    .concat(timeline.compensations)
    .find((row) => row.seq === selectedSeq);
  const selectedEntries = useMemo(
    () => history.filter((event) => selectedSeq !== undefined && event.seq === selectedSeq),
    [history, selectedSeq],
  );

  if (problem && !run) {
    return (
      <section className="page" aria-labelledby="page-title">
        <h1 id="page-title">{problem.notFound ? "No such run" : "Could not load the run"}</h1>
        <p className="callout callout-error" role="alert">
          {problem.notFound ? `There is no run with id ${runId}.` : problem.message}
        </p>
        <Link to="/">← All runs</Link>
      </section>
    );
  }
  if (!run || !timeline || !graph) {
    return (
      <section className="page" aria-busy="true">
        <h1 id="page-title" className="mono">
          {runId}
        </h1>
        <p className="muted">Loading…</p>
      </section>
    );
  }

  const failedSeq = failedCompensationOf(run);

  return (
    <section className="page" aria-labelledby="page-title" data-testid="run-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <Link to="/">Runs</Link>
        <span aria-hidden="true"> / </span>
        <Link to={runsHref({ workflow: run.workflow })}>{run.workflow}</Link>
      </nav>
      <header className="page-header run-header">
        <div className="run-title">
          <h1 id="page-title" className="mono">
            {run.runId}
          </h1>
          <div
            aria-live="polite"
            aria-atomic="true"
            className="run-status"
            data-testid="run-status"
          >
            <span className="visually-hidden">Status: </span>
            <StatusBadge status={run.status} />
          </div>
        </div>
        <RunActions run={run} onActed={refollow} />
      </header>

      <dl className="summary">
        <div>
          <dt>Workflow</dt>
          <dd>{run.workflow}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd title={formatDateTime(run.createdAt)}>
            <time dateTime={run.createdAt}>{formatDateTime(run.createdAt)}</time>
          </dd>
        </div>
        <div>
          <dt>{isTerminal(run.status) ? "Took" : "Running for"}</dt>
          <dd>{formatDuration(runDurationMs(run, now))}</dd>
        </div>
        <div>
          <dt>Last change</dt>
          <dd title={formatDateTime(run.updatedAt)}>{formatAgo(run.updatedAt, now)}</dd>
        </div>
        <div>
          <dt>Steps</dt>
          <dd>
            {timeline.rows.length}
            {timeline.compensations.length > 0 &&
              ` + ${timeline.compensations.length} compensation${timeline.compensations.length > 1 ? "s" : ""}`}
          </dd>
        </div>
        {run.generation !== undefined && run.generation > 1 && (
          <div>
            <dt>Generation</dt>
            <dd
              data-testid="run-generation"
              title="continued as new this many times, plus one; steps are this generation's"
            >
              {run.generation}
            </dd>
          </div>
        )}
        {run.parentRunId && (
          <div>
            <dt>Parent run</dt>
            <dd className="mono">
              <Link to={runHref(run.parentRunId)}>{run.parentRunId}</Link>
            </dd>
          </div>
        )}
      </dl>

      {failedSeq !== undefined ? (
        <FailedCompensation run={run} seq={failedSeq} onActed={refollow} />
      ) : (
        run.waitingOn &&
        !isTerminal(run.status) && (
          <div className="callout callout-waiting" data-testid="waiting-on">
            <strong>Waiting on {run.waitingOn.kind}:</strong> {run.waitingOn.reason}
          </div>
        )
      )}
      {run.error && (
        <div className="callout callout-error" data-testid="run-error">
          <strong>{run.error.code}</strong>: {run.error.message}
        </div>
      )}

      <section className="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        <Timeline timeline={timeline} selectedSeq={selectedSeq} onSelect={setSelectedSeq} />
      </section>

      <section className="card" aria-labelledby="path-title">
        <h2 id="path-title">Path</h2>
        <PathGraph graph={graph} selectedSeq={selectedSeq} onSelect={setSelectedSeq} />
      </section>

      {selectedStep && (
        <section
          className="card step-details"
          aria-labelledby="step-title"
          data-testid="step-details"
        >
          <header className="card-header">
            <h2 id="step-title">
              Step #{selectedStep.seq} <span className="mono">{selectedStep.name}</span>
            </h2>
            <button
              type="button"
              className="button button-small"
              onClick={() => setSelectedSeq(undefined)}
            >
              Close
            </button>
          </header>
          <dl className="summary">
            <div>
              <dt>Kind</dt>
              <dd>{selectedStep.kind}</dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd>{selectedStep.status}</dd>
            </div>
            <div>
              <dt>Attempts</dt>
              <dd>{selectedStep.attempts}</dd>
            </div>
            {selectedStep.compensates !== undefined && (
              <div>
                <dt>Compensates</dt>
                <dd>#{selectedStep.compensates}</dd>
              </div>
            )}
            {selectedRow?.childRunId && (
              <div>
                <dt>Child run</dt>
                <dd className="mono">
                  <Link to={runHref(selectedRow.childRunId)}>{selectedRow.childRunId}</Link>
                </dd>
              </div>
            )}
          </dl>
          {selectedStep.error && (
            <div className="callout callout-error">
              <strong>{selectedStep.error.code}</strong>: {selectedStep.error.message}
            </div>
          )}
          {selectedStep.output !== undefined && (
            <JsonView value={selectedStep.output} label="Output" />
          )}
          <h3>Journal entries of this step</h3>
          <JournalTable events={selectedEntries} start={Date.parse(run.createdAt)} />
        </section>
      )}

      <div className="data-grid">
        <section className="card" aria-labelledby="input-title">
          <h2 id="input-title">Input</h2>
          <JsonView value={run.input} label="Input" />
        </section>
        <section className="card" aria-labelledby="output-title">
          <h2 id="output-title">{run.error ? "Error" : "Output"}</h2>
          {run.error ? (
            <JsonView value={run.error} label="Error" />
          ) : run.output !== undefined ? (
            <JsonView value={run.output} label="Output" />
          ) : (
            <p className="muted">{isTerminal(run.status) ? "No output." : "Not finished yet."}</p>
          )}
        </section>
      </div>

      <section className="card" aria-labelledby="journal-title">
        <h2 id="journal-title">
          Journal <span className="muted">({history.length} entries)</span>
        </h2>
        <JournalTable
          events={history}
          start={Date.parse(run.createdAt)}
          highlightSeq={selectedSeq}
          testId="journal"
        />
      </section>
    </section>
  );
}
