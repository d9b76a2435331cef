import { useCallback, useEffect, useRef } from "react";
import { ToastProvider } from "./components/toasts.js";
import { ApiProvider, useApi } from "./lib/api.js";
import { Link, routeOf, useLocation, type Route } from "./lib/router.js";
import { useTheme } from "./lib/theme.js";
import { RunPage } from "./pages/run-page.js";
import { RunsPage } from "./pages/runs-page.js";
import { SchedulesPage } from "./pages/schedules-page.js";
import { ServicesPage } from "./pages/services-page.js";
import { WebhooksPage } from "./pages/webhooks-page.js";
import { WorkflowsPage } from "./pages/workflows-page.js";

export function App() {
  return (
    <ToastProvider>
      <ApiProvider>
        <Shell />
      </ApiProvider>
    </ToastProvider>
  );
}

const THEME_ICONS = { system: "◐", light: "☀", dark: "☾" } as const;

function Shell() {
  const { path } = useLocation();
  const route = routeOf(path);
  const api = useApi();
  const { theme, nextTheme, cycle } = useTheme();
  const mainRef = useRef<HTMLElement>(null);
  const onTitle = useCallback((title: string) => {
    document.title = `${title} · Baton`;
  }, []);

  // After navigating, focus goes to the page, so keyboard and screen reader users start there.
  const isFirstRender = useRef(true);
  useEffect(() => {
    if (isFirstRender.current) {
      isFirstRender.current = false;
      return;
    }
    mainRef.current?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [path]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="Baton, runs">
          <span className="brand-mark" aria-hidden="true" />
          Baton
        </Link>
        <nav aria-label="Main">
          <ul className="nav">
            <NavItem
              to="/"
              label="Runs"
              isCurrent={route.page === "runs" || route.page === "run"}
            />
            <NavItem to="/workflows" label="Workflows" isCurrent={route.page === "workflows"} />
            <NavItem to="/services" label="Services" isCurrent={route.page === "services"} />
            <NavItem to="/schedules" label="Schedules" isCurrent={route.page === "schedules"} />
            <NavItem to="/webhooks" label="Webhooks" isCurrent={route.page === "webhooks"} />
          </ul>
        </nav>
        <div className="topbar-tools">
          {api.hasToken ? (
            <button type="button" className="button button-quiet" onClick={() => api.forgetToken()}>
              Forget token
            </button>
          ) : null}
          <button
            type="button"
            className="button button-quiet theme-toggle"
            onClick={cycle}
            aria-label={`Theme: ${theme}. Switch to ${nextTheme}`}
            title={`Theme: ${theme} (switch to ${nextTheme})`}
          >
            <span aria-hidden="true">{THEME_ICONS[theme]}</span> {theme}
          </button>
        </div>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        <Page route={route} onTitle={onTitle} />
      </main>
    </>
  );
}

function NavItem({ to, label, isCurrent }: { to: string; label: string; isCurrent: boolean }) {
  return (
    <li>
      <Link to={to} className="nav-link" aria-current={isCurrent ? "page" : undefined}>
        {label}
      </Link>
    </li>
  );
}

function Page({ route, onTitle }: { route: Route; onTitle: (title: string) => void }) {
  switch (route.page) {
    case "runs":
      return <RunsPage onTitle={onTitle} />;
    case "run":
      return <RunPage key={route.runId} runId={route.runId} onTitle={onTitle} />;
    case "workflows":
      return <WorkflowsPage onTitle={onTitle} />;
    case "services":
      return <ServicesPage onTitle={onTitle} />;
    case "schedules":
      return <SchedulesPage onTitle={onTitle} />;
    case "webhooks":
      return <WebhooksPage onTitle={onTitle} />;
    case "not-found":
      return (
        <section className="page" aria-labelledby="page-title">
          <h1 id="page-title">Not found</h1>
          <p>This page does not exist.</p>
          <Link to="/">← All runs</Link>
        </section>
      );
  }
}
