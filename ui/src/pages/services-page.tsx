import type { ServiceInfo } from "baton/client";
import { useEffect, useState } from "react";
import { describeError, useApi } from "../lib/api.js";
import { formatCount, formatLatency, formatPercent } from "../lib/format.js";
import { usePolling } from "../lib/hooks.js";

const REFRESH_MS = 5_000;

/** One card per service: how it is reached, what waits and runs, and how it has been doing. */
export function ServicesPage({ onTitle }: { onTitle: (title: string) => void }) {
  const api = useApi();
  const [services, setServices] = useState<ServiceInfo[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => onTitle("Services"), [onTitle]);

  usePolling(
    async (signal) => {
      try {
        const list = await api.call((client) => client.services());
        if (signal.aborted) return;
        setServices([...list].sort((a, b) => a.name.localeCompare(b.name)));
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
        <h1 id="page-title">Services</h1>
        <p className="muted">
          Refreshed every {REFRESH_MS / 1000} s. Counts are since the server started.
        </p>
      </header>
      {error && (
        <p className="callout callout-error" role="alert">
          Could not load services: {error}
        </p>
      )}
      {services && services.length === 0 && <p className="empty">No services are registered.</p>}
      <ul className="cards" aria-label="Services">
        {services?.map((service) => (
          <ServiceCard key={service.name} service={service} />
        ))}
      </ul>
    </section>
  );
}

function ServiceCard({ service }: { service: ServiceInfo }) {
  const finished = service.completed + service.failures;
  const successRate = finished > 0 ? service.completed / finished : undefined;
  const failureRate = finished > 0 ? service.failures / finished : undefined;
  const isQueue = service.transport === "queue";
  const isStalled = isQueue && service.queueDepth > 0 && service.workers === 0;
  const health =
    isStalled || (failureRate ?? 0) > 0.2 ? "bad" : (failureRate ?? 0) > 0 ? "warn" : "good";
  return (
    <li className={`card service-card health-${health}`} data-service={service.name}>
      <header className="card-header">
        <h2 className="mono">{service.name}</h2>
        <span className={`chip transport-${service.transport}`}>{service.transport}</span>
      </header>
      {isStalled && (
        <p className="callout callout-warning">
          {service.queueDepth} command{service.queueDepth > 1 ? "s" : ""} waiting and no worker
          connected.
        </p>
      )}
      <dl className="metrics">
        <Metric label="Queue depth" value={isQueue ? formatCount(service.queueDepth) : "—"} />
        <Metric label="In flight" value={formatCount(service.inFlight)} />
        <Metric label="Workers" value={isQueue ? formatCount(service.workers) : "—"} />
        <Metric label="Succeeded" value={formatCount(service.completed)} />
        <Metric
          label="Failed"
          value={formatCount(service.failures)}
          tone={service.failures > 0 ? "bad" : undefined}
        />
        <Metric label="p50 latency" value={formatLatency(service.latencyMs.p50)} />
        <Metric label="p95 latency" value={formatLatency(service.latencyMs.p95)} />
        <Metric
          label="Failure rate"
          value={formatPercent(failureRate)}
          tone={(failureRate ?? 0) > 0 ? "bad" : undefined}
        />
      </dl>
      <div
        className="rate-bar"
        role="img"
        aria-label={`Success rate ${formatPercent(successRate)}`}
        title={`Success rate ${formatPercent(successRate)}`}
      >
        <span className="rate-good" style={{ width: `${(successRate ?? 0) * 100}%` }} />
        <span className="rate-bad" style={{ width: `${(failureRate ?? 0) * 100}%` }} />
      </div>
      <p className="muted card-footer">
        Success rate {formatPercent(successRate)}
        {service.baseUrl ? ` · ${service.baseUrl}` : ""}
        {service.leaseMs !== undefined ? ` · lease ${service.leaseMs / 1000} s` : ""}
      </p>
    </li>
  );
}

function Metric({
  label,
  value,
  tone,
}: {
  label: string;
  value: string;
  tone?: "bad" | undefined;
}) {
  return (
    <div className={tone ? `metric tone-${tone}` : "metric"}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}
