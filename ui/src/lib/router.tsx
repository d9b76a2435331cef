import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

/**
 * Client-side routing over the History API: the server answers every page path with the app
 * (src/server/static.ts), and the app picks the page from `location`.
 */

const NAVIGATE_EVENT = "baton:navigate";

function subscribe(onChange: () => void): () => void {
  window.addEventListener("popstate", onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

const snapshot = (): string => window.location.pathname + window.location.search;

/** The current path and query, re-rendering on navigation. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const href = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(href, window.location.origin);
  return { path: url.pathname, query: url.searchParams };
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

export type Route =
  | { page: "runs" }
  | { page: "run"; runId: string }
  | { page: "workflows" }
  | { page: "services" }
  | { page: "schedules" }
  | { page: "webhooks" }
  | { page: "not-found" };

export function routeOf(path: string): Route {
  if (path === "/" || path === "/runs" || path === "/runs/") return { page: "runs" };
  if (path.startsWith("/runs/")) {
    try {
      return { page: "run", runId: decodeURIComponent(path.slice("/runs/".length)) };
    } catch {
      return { page: "not-found" };
    }
  }
  if (path === "/workflows") return { page: "workflows" };
  if (path === "/services") return { page: "services" };
  if (path === "/schedules") return { page: "schedules" };
  if (path === "/webhooks") return { page: "webhooks" };
  return { page: "not-found" };
}

export function runHref(runId: string): string {
  return `/runs/${encodeURIComponent(runId)}`;
}

/** The runs page with these filters; empty values are left out. */
export function runsHref(filters: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  const text = query.toString();
  return text ? `/?${text}` : "/";
}

/** An <a> that navigates in the app; modified clicks (new tab, download) stay the browser's. */
export function Link({
  to,
  onClick,
  ...rest
}: { to: string } & Omit<AnchorHTMLAttributes<HTMLAnchorElement>, "href">) {
  const handle = (event: MouseEvent<HTMLAnchorElement>): void => {
    onClick?.(event);
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    ) {
      return;
    }
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
