import type { BatonEvent, Run } from "baton/client";
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";
import { describeError, useApi } from "../lib/api.js";
import { formatAgo, formatDateTime, formatDuration } from "../lib/format.js";
import { useDebounced, useNow } from "../lib/hooks.js";
import { Link, navigate, runHref, runsHref, useLocation } from "../lib/router.js";
import { STATUSES, isRunStatus, runDurationMs } from "../lib/statuses.js";
import { StatusBadge } from "../components/status-badge.js";

const PAGE_SIZES = [25, 50, 100] as const;
/** Without events (or between them) the first page is read again this often. */
const REFRESH_MS = 5_000;
/** A performance mark: the first page of runs is on screen. */
export const FIRST_PAGE_MARK = "baton:runs-first-page";
/** On a busy system, live events re-read the first page at most this often. */
const LIVE_REFRESH_MS = 1_000;

interface Page {
  runs: Run[];
  nextCursor?: string;
}

/**
 * Every run, newest first, a page at a time (keyset cursors: "older" follows nextCursor, "newer"
 * goes back along the cursors seen). Filters live in the URL. The first page follows
 * /v1/events: rows change status in place and new runs appear; later pages stay put.
 */
export function RunsPage({ onTitle }: { onTitle: (title: string) => void }) {
  const api = useApi();
  const { query } = useLocation();
  const statusParam = query.get("status");
  const status = isRunStatus(statusParam) ? statusParam : undefined;
  const workflow = query.get("workflow") ?? undefined;
  const search = query.get("q") ?? "";
  const tagParam = query.get("tag") ?? "";
  const from = isoOrUndefined(query.get("from"));
  const to = isoOrUndefined(query.get("to"));
  const limitParam = Number(query.get("limit"));
  const limit = (PAGE_SIZES as readonly number[]).includes(limitParam) ? limitParam : 50;

  const [searchInput, setSearchInput] = useState(search);
  const [tagInput, setTagInput] = useState(tagParam);
  const debouncedSearch = useDebounced(searchInput.trim(), 250);
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const [page, setPage] = useState<Page | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  /** Which query the table shows, so a new query shows as loading until it answers. */
  const [shownQuery, setShownQuery] = useState<string | undefined>(undefined);
  const [workflows, setWorkflows] = useState<string[]>([]);
  const [isLive, setLive] = useState(true);
  const [liveState, setLiveState] = useState<"connecting" | "live" | "offline">("connecting");
  const now = useNow(1000);
  const searchRef = useRef<HTMLInputElement>(null);
  const tableRef = useRef<HTMLTableSectionElement>(null);

  useEffect(() => onTitle("Runs"), [onTitle]);

  const setFilter = useCallback(
    (changes: Record<string, string | undefined>) => {
      const next = {
        status,
        workflow,
        q: search || undefined,
        tag: tagParam || undefined,
        from,
        to,
        limit: limit === 50 ? undefined : String(limit),
        ...changes,
      };
      navigate(runsHref(next), { replace: true });
    },
    [status, workflow, search, tagParam, from, to, limit],
  );

  // The search box writes to the URL once typing pauses.
  useEffect(() => {
    if (debouncedSearch !== search) setFilter({ q: debouncedSearch || undefined });
  }, [debouncedSearch, search, setFilter]);

  // New filters start from the first page.
  const filterKey = `${status ?? ""}|${workflow ?? ""}|${search}|${tagParam}|${from ?? ""}|${to ?? ""}|${limit}`;
  const [shownFilterKey, setShownFilterKey] = useState(filterKey);
  if (shownFilterKey !== filterKey) {
    setShownFilterKey(filterKey);
    setCursors([]);
  }

  const queryKey = `${filterKey}|${cursor ?? ""}`;
  const isLoading = shownQuery !== queryKey && error === undefined;
  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const tags = parseTags(tagParam);
        const next = await api.call((client) =>
          client.listRuns({
            limit,
            ...(status ? { status } : {}),
            ...(workflow ? { workflow } : {}),
            ...(search ? { runIdPrefix: search } : {}),
            ...(tags ? { tags } : {}),
            ...(from ? { createdAfter: from } : {}),
            ...(to ? { createdBefore: to } : {}),
            ...(cursor ? { cursor } : {}),
          }),
        );
        if (signal?.aborted) return;
        setPage(next);
        setShownQuery(queryKey);
        setError(undefined);
      } catch (e) {
        if (!signal?.aborted) setError(describeError(e));
      }
    },
    [api, limit, status, workflow, search, tagParam, from, to, cursor, queryKey],
  );

  useEffect(() => {
    const controller = new AbortController();
    // `load` sets state only once the answer is in, never synchronously.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  // The workflow filter's names come with the workflows' counts, which read every run: asked
  // only once the first page is on screen, so that it never delays it.
  const hasPage = page !== undefined;
  useEffect(() => {
    if (!hasPage) return undefined;
    // For the measurements of test/ui/runs-100k.test.ts: when the first page was on screen.
    if (performance.getEntriesByName(FIRST_PAGE_MARK).length === 0)
      performance.mark(FIRST_PAGE_MARK);
    const controller = new AbortController();
    api
      .call((client) => client.workflows())
      .then((list) => {
        if (!controller.signal.aborted) setWorkflows(list.map((w) => w.name).sort());
      })
      .catch(() => {
        // The filter then offers only the workflow in the URL; the table says what failed.
      });
    return () => controller.abort();
  }, [api, hasPage]);

  // Live: the first page follows events, re-read at most once a second; rows of later pages
  // only change status in place. A periodic read covers events missed while reconnecting.
  const isFirstPage = cursor === undefined;
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });
  useEffect(() => {
    if (!isLive) return undefined;
    const controller = new AbortController();
    let pending: BatonEvent[] = [];
    let lastRead = 0;
    let flushTimer: number | undefined;
    const flush = (): void => {
      flushTimer = undefined;
      const events = pending;
      pending = [];
      if (isFirstPage) {
        lastRead = Date.now();
        void loadRef.current(controller.signal);
        return;
      }
      const latest = new Map(events.map((event) => [event.runId, event]));
      setPage(
        (shown) =>
          shown && {
            ...shown,
            runs: shown.runs.map((run) => {
              const event = latest.get(run.runId);
              // run.* events always carry the run's status (user events, which need not, are not asked for).
              return event?.status ? { ...run, status: event.status, updatedAt: event.at } : run;
            }),
          },
      );
    };
    const onEvent = (event: BatonEvent): void => {
      setLiveState("live");
      pending.push(event);
      if (flushTimer === undefined) {
        const wait = Math.max(100, LIVE_REFRESH_MS - (Date.now() - lastRead));
        flushTimer = window.setTimeout(flush, wait);
      }
    };
    const follow = async (): Promise<void> => {
      while (!controller.signal.aborted) {
        setLiveState("connecting");
        try {
          await api.follow(
            (client, signal) =>
              client.events({
                topics: ["run.*"],
                signal,
                ...(workflow ? { workflow } : {}),
              }),
            onEvent,
            controller.signal,
          );
        } catch {
          // Reconnected below; the periodic read keeps the table right meanwhile.
        }
        if (controller.signal.aborted) return;
        setLiveState("offline");
        await new Promise((resolve) => window.setTimeout(resolve, 3_000));
      }
    };
    // The stream says nothing until something happens: an open connection counts as live.
    const connected = window.setTimeout(() => {
      if (!controller.signal.aborted)
        setLiveState((state) => (state === "connecting" ? "live" : state));
    }, 800);
    void follow();
    const timer = window.setInterval(() => {
      if (isFirstPage && !document.hidden && Date.now() - lastRead > REFRESH_MS / 2) {
        lastRead = Date.now();
        void loadRef.current(controller.signal);
      }
    }, REFRESH_MS);
    return () => {
      controller.abort();
      window.clearTimeout(flushTimer);
      window.clearTimeout(connected);
      window.clearInterval(timer);
    };
  }, [api, isLive, isFirstPage, workflow]);

  // "/" focuses the search, as on most sites with one.
  useEffect(() => {
    const onKey = (event: globalThis.KeyboardEvent): void => {
      const target = event.target as HTMLElement | null;
      const isTyping =
        target?.closest("input, textarea, select, [contenteditable=true], dialog") !== null;
      if (event.key === "/" && !isTyping && !event.metaKey && !event.ctrlKey) {
        event.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  /** Up and down move between rows; Enter on a row opens its run. */
  const onTableKey = (event: KeyboardEvent<HTMLTableSectionElement>): void => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const links = [...(tableRef.current?.querySelectorAll<HTMLAnchorElement>("a.run-link") ?? [])];
    const index = links.findIndex((link) => link === document.activeElement);
    const next = links[index + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  };

  const runs = page?.runs ?? [];
  const workflowOptions =
    workflow && !workflows.includes(workflow) ? [workflow, ...workflows] : workflows;
  const hasFilters =
    status !== undefined ||
    workflow !== undefined ||
    search !== "" ||
    tagParam !== "" ||
    from !== undefined ||
    to !== undefined;
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">Runs</h1>
        <div className="page-header-actions">
          <button
            type="button"
            className={`live-toggle live-${isLive ? liveState : "paused"}`}
            aria-pressed={isLive}
            onClick={() => setLive((value) => !value)}
            title={isLive ? "Pause live updates" : "Resume live updates"}
          >
            <span className="live-dot" aria-hidden="true" />
            {isLive
              ? liveState === "live"
                ? "Live"
                : liveState === "connecting"
                  ? "Connecting…"
                  : "Reconnecting…"
              : "Paused"}
          </button>
        </div>
      </header>

      <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor="filter-status">Status</label>
          <select
            id="filter-status"
            value={status ?? ""}
            onChange={(event) => setFilter({ status: event.target.value || undefined })}
          >
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-workflow">Workflow</label>
          <select
            id="filter-workflow"
            value={workflow ?? ""}
            onChange={(event) => setFilter({ workflow: event.target.value || undefined })}
          >
            <option value="">All workflows</option>
            {workflowOptions.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-grow">
          <label htmlFor="filter-search">Run id starts with</label>
          <input
            id="filter-search"
            ref={searchRef}
            type="search"
            placeholder="Search by run id  ( / )"
            spellCheck={false}
            autoComplete="off"
            value={searchInput}
            onChange={(event) => setSearchInput(event.target.value)}
            onKeyDown={(event) => {
              if (event.key === "Enter") setFilter({ q: searchInput.trim() || undefined });
            }}
          />
        </div>
        <div className="field">
          <label htmlFor="filter-tag">Tags</label>
          <input
            id="filter-tag"
            type="search"
            placeholder="key:value …"
            title="Runs with every tag given: key:value, separated by spaces"
            spellCheck={false}
            autoComplete="off"
            value={tagInput}
            onChange={(event) => setTagInput(event.target.value)}
            onBlur={() => setFilter({ tag: tagInput.trim() || undefined })}
            onKeyDown={(event) => {
              if (event.key === "Enter") setFilter({ tag: tagInput.trim() || undefined });
            }}
          />
        </div>
        <div className="field">
          <label htmlFor="filter-from">Created from</label>
          <input
            id="filter-from"
            type="datetime-local"
            step={1}
            value={toLocalInput(from)}
            onChange={(event) => setFilter({ from: fromLocalInput(event.target.value) })}
          />
        </div>
        <div className="field">
          <label htmlFor="filter-to">Created before</label>
          <input
            id="filter-to"
            type="datetime-local"
            step={1}
            value={toLocalInput(to)}
            onChange={(event) => setFilter({ to: fromLocalInput(event.target.value) })}
          />
        </div>
        <div className="field">
          <label htmlFor="filter-limit">Per page</label>
          <select
            id="filter-limit"
            value={limit}
            onChange={(event) =>
              setFilter({ limit: event.target.value === "50" ? undefined : event.target.value })
            }
          >
            {PAGE_SIZES.map((size) => (
              <option key={size} value={size}>
                {size}
              </option>
            ))}
          </select>
        </div>
        {hasFilters && (
          <button
            type="button"
            className="button button-quiet filters-clear"
            onClick={() => {
              setSearchInput("");
              setTagInput("");
              navigate(runsHref({ limit: limit === 50 ? undefined : String(limit) }), {
                replace: true,
              });
            }}
          >
            Clear filters
          </button>
        )}
      </form>

      {error && (
        <div className="callout callout-error" role="alert">
          Could not load runs: {error}{" "}
          <button type="button" className="button button-small" onClick={() => void load()}>
            Try again
          </button>
        </div>
      )}

      <div className="table-wrap" aria-busy={isLoading}>
        <table className="runs-table" data-testid="runs-table">
          <caption className="visually-hidden">
            Runs, newest first{status ? `, status ${status}` : ""}
            {workflow ? `, workflow ${workflow}` : ""}
            {search ? `, run id starting with ${search}` : ""}
            {tagParam ? `, tagged ${tagParam}` : ""}
            {from ? `, created from ${formatDateTime(from)}` : ""}
            {to ? `, created before ${formatDateTime(to)}` : ""}. Arrow keys move between rows,
            Enter opens one.
          </caption>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Workflow</th>
              <th scope="col">Run id</th>
              <th scope="col">Started</th>
              <th scope="col" className="numeric">
                Duration
              </th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody ref={tableRef} onKeyDown={onTableKey}>
            {runs.map((run) => (
              <tr
                key={run.runId}
                data-run-id={run.runId}
                data-status={run.status}
                onClick={(event) => {
                  // The whole row opens the run; the link itself, and selecting text, stay as they are.
                  if ((event.target as HTMLElement).closest("a")) return;
                  if (window.getSelection()?.toString()) return;
                  navigate(runHref(run.runId));
                }}
              >
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>
                  <Link
                    to={runsHref({ workflow: run.workflow, status })}
                    className="quiet-link"
                    title={`Only runs of ${run.workflow}`}
                  >
                    {run.workflow}
                  </Link>
                </td>
                <td className="mono">
                  <Link to={runHref(run.runId)} className="run-link">
                    {run.runId}
                  </Link>
                </td>
                <td title={formatDateTime(run.createdAt)}>
                  <time dateTime={run.createdAt}>{formatAgo(run.createdAt, now)}</time>
                </td>
                <td className="numeric">{formatDuration(runDurationMs(run, now))}</td>
                <td className="details-cell">
                  {Object.entries(run.tags ?? {}).map(([key, value]) => (
                    <span key={key} className="tag-chip" data-tag={`${key}:${value}`}>
                      {key}:{value}
                    </span>
                  ))}
                  {detailsOf(run)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!isLoading && runs.length === 0 && !error && (
          <p className="empty">
            {hasFilters
              ? "No runs match these filters."
              : "No runs yet. Start one through the API or the CLI."}
          </p>
        )}
      </div>

      <nav className="pager" aria-label="Pages of runs">
        <button
          type="button"
          className="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors([])}
        >
          ⇤ Newest
        </button>
        <button
          type="button"
          className="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors((list) => list.slice(0, -1))}
        >
          ← Newer
        </button>
        <span className="pager-position" aria-live="polite">
          Page {cursors.length + 1}
          {runs.length > 0 ? ` · ${runs.length} runs` : ""}
        </span>
        <button
          type="button"
          className="button"
          disabled={!page?.nextCursor}
          onClick={() => {
            const next = page?.nextCursor;
            if (next) setCursors((list) => [...list, next]);
          }}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}

/** One line on what a run waits on, or why it failed. */
function detailsOf(run: Run): string {
  if (run.waitingOn) return run.waitingOn.reason;
  if (run.error) return `${run.error.code}: ${run.error.message}`;
  return "";
}

/** The tag filter of the URL, `key:value` pairs separated by spaces; undefined if none. */
function parseTags(text: string): Record<string, string> | undefined {
  const pairs = text
    .split(/\s+/)
    .filter(Boolean)
    .map((pair): [string, string] => {
      const colon = pair.indexOf(":");
      // A pair without a colon is a key with an empty value.
      return colon < 0 ? [pair, ""] : [pair.slice(0, colon), pair.slice(colon + 1)];
    });
  return pairs.length ? Object.fromEntries(pairs) : undefined;
}

function isoOrUndefined(text: string | null): string | undefined {
  return text && !Number.isNaN(Date.parse(text)) ? text : undefined;
}

/** An ISO time as a datetime-local input shows it: local time, to the second. */
function toLocalInput(iso: string | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

/** A datetime-local input's value (local time) as an ISO time; empty is no bound. */
function fromLocalInput(value: string): string | undefined {
  return value ? new Date(value).toISOString() : undefined;
}
