import type { Run, WorkflowSummary } from "baton/client";
import { useEffect, useState } from "react";
import { StatusBadge } from "../components/status-badge.js";
import { describeError, useApi, type Api } from "../lib/api.js";
import { formatAgo, formatCount, formatDateTime } from "../lib/format.js";
import { useNow, usePolling } from "../lib/hooks.js";
import { Link, runHref, runsHref } from "../lib/router.js";
import { FAILURE_STATUSES, STATUSES } from "../lib/statuses.js";

/** Counting runs reads every row's status: every 10 s is plenty for a page people glance at. */
const REFRESH_MS = 10_000;
const RECENT_FAILURES = 3;

/** The newest failed and compensated runs of a workflow, merged. */
async function recentFailures(api: Api, workflow: string): Promise<Run[]> {
  const pages = await Promise.all(
    FAILURE_STATUSES.map((status) =>
      api.call((client) => client.listRuns({ workflow, status, limit: RECENT_FAILURES })),
    ),
  );
  return pages
    .flatMap((page) => page.runs)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, RECENT_FAILURES);
}

interface Row {
  summary: WorkflowSummary;
  total: number;
  failures: Run[];
}

/** Every workflow with its runs by status and its latest failures. */
export function WorkflowsPage({ onTitle }: { onTitle: (title: string) => void }) {
  const api = useApi();
  const [rows, setRows] = useState<Row[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const now = useNow(5_000);

  useEffect(() => onTitle("Workflows"), [onTitle]);

  usePolling(
    async (signal) => {
      try {
        const summaries = await api.call((client) => client.workflows());
        const next = await Promise.all(
          summaries.map(async (summary): Promise<Row> => {
            const total = STATUSES.reduce((sum, status) => sum + (summary[status] ?? 0), 0);
            const hasFailures = FAILURE_STATUSES.some((status) => summary[status] > 0);
            const failures = hasFailures ? await recentFailures(api, summary.name) : [];
            return { summary, total, failures };
          }),
        );
        if (signal.aborted) return;
        setRows(next.sort((a, b) => a.summary.name.localeCompare(b.summary.name)));
        setError(undefined);
      } catch (e) {
        if (!signal.aborted) setError(describeError(e));
      }
    },
    REFRESH_MS,
    [api],
  );

  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">Workflows</h1>
        <p className="muted">
          Runs of each workflow by status; refreshed every {REFRESH_MS / 1000} s.
        </p>
      </header>
      {error && (
        <p className="callout callout-error" role="alert">
          Could not load workflows: {error}
        </p>
      )}
      {rows && rows.length === 0 && <p className="empty">No workflows are registered.</p>}
      <ul className="workflow-list" aria-label="Workflows">
        {rows?.map(({ summary, total, failures }) => (
          <li key={summary.name} className="card workflow-card" data-workflow={summary.name}>
            <header className="card-header">
              <h2 className="mono">
                <Link to={runsHref({ workflow: summary.name })}>{summary.name}</Link>
              </h2>
              {!summary.registered && (
                <span
                  className="chip"
                  title="Known only from stored runs: this server does not define it"
                >
                  not registered
                </span>
              )}
              <span className="muted">
                {formatCount(total)} run{total === 1 ? "" : "s"}
              </span>
            </header>
            <div
              className="status-bar"
              role="img"
              aria-label={
                STATUSES.filter((s) => summary[s] > 0)
                  .map((s) => `${summary[s]} ${s}`)
                  .join(", ") || "no runs"
              }
            >
              {STATUSES.filter((s) => summary[s] > 0).map((status) => (
                <span
                  key={status}
                  className={`status-bar-part status-${status}`}
                  style={{ flexGrow: summary[status] }}
                  title={`${summary[status]} ${status}`}
                />
              ))}
            </div>
            <ul className="status-counts" aria-label={`Runs of ${summary.name} by status`}>
              {STATUSES.map((status) => (
                <li key={status} className={summary[status] > 0 ? "" : "is-zero"}>
                  <Link
                    to={runsHref({ workflow: summary.name, status })}
                    aria-label={`${summary[status]} ${status} runs of ${summary.name}`}
                  >
                    <StatusBadge status={status} />
                    <span className="count">{formatCount(summary[status])}</span>
                  </Link>
                </li>
              ))}
            </ul>
            {summary.versions.length > 0 && (
              <ul className="version-list" aria-label={`Versions of ${summary.name}`}>
                {summary.versions.map((v) => (
                  <li key={v.version} data-version={v.version}>
                    <span className="mono">v{v.version}</span>{" "}
                    <span className="count">{formatCount(v.inFlight)}</span>{" "}
                    <span className="muted">in flight of {formatCount(v.total)}</span>
                    {v.version === summary.version && (
                      <span className="chip" title="New runs start on this version">
                        new runs
                      </span>
                    )}
                    {!v.registered && (
                      <span
                        className="chip"
                        title="This server does not have the code of this version: its runs wait for a server that has"
                      >
                        not on this server
                      </span>
                    )}
                  </li>
                ))}
              </ul>
            )}
            {failures.length > 0 && (
              <div className="recent-failures">
                <h3>Recent failures</h3>
                <ul>
                  {failures.map((run) => (
                    <li key={run.runId}>
                      <Link to={runHref(run.runId)} className="mono">
                        {run.runId}
                      </Link>{" "}
                      <StatusBadge status={run.status} />{" "}
                      <span className="muted" title={formatDateTime(run.createdAt)}>
                        {formatAgo(run.createdAt, now)}
                      </span>
                      {run.error && (
                        <span className="failure-reason">
                          {" "}
                          <strong>{run.error.code}</strong> {run.error.message}
                        </span>
                      )}
                    </li>
                  ))}
                </ul>
              </div>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
