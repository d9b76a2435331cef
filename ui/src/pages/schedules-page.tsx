import type { Schedule } from "baton/client";
import { useEffect, useState } from "react";
import { StatusBadge } from "../components/status-badge.js";
import { describeError, useApi } from "../lib/api.js";
import { formatAgo, formatCount, formatDateTime, formatDuration } from "../lib/format.js";
import { useNow, usePolling } from "../lib/hooks.js";
import { Link, runHref } from "../lib/router.js";
import { useRunAction } from "../lib/run-action.js";

const REFRESH_MS = 5_000;

/** One card per schedule: when it fires next, how its last runs went, and pause/resume/trigger. */
export function SchedulesPage({ onTitle }: { onTitle: (title: string) => void }) {
  const api = useApi();
  const [schedules, setSchedules] = useState<Schedule[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [reloads, setReloads] = useState(0);
  const now = useNow(1_000);

  useEffect(() => onTitle("Schedules"), [onTitle]);

  usePolling(
    async (signal) => {
      try {
        const list = await api.call((client) => client.listSchedules());
        if (signal.aborted) return;
        setSchedules(list);
        setError(undefined);
      } catch (e) {
        if (!signal.aborted) setError(describeError(e));
      }
    },
    REFRESH_MS,
    [api, reloads],
  );

  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">Schedules</h1>
        <p className="muted">
          Each tick starts a run with id <span className="mono">name:tick-time</span>. Refreshed
          every {REFRESH_MS / 1000} s.
        </p>
      </header>
      {error && (
        <p className="callout callout-error" role="alert">
          Could not load schedules: {error}
        </p>
      )}
      {schedules && schedules.length === 0 && (
        <p className="empty">
          No schedules yet: export <span className="mono">schedule()</span> values beside your
          workflows, or create one with <span className="mono">POST /v1/schedules</span>.
        </p>
      )}
      <ul className="cards" aria-label="Schedules">
        {schedules?.map((schedule) => (
          <ScheduleCard
            key={schedule.name}
            schedule={schedule}
            now={now}
            onActed={() => setReloads((n) => n + 1)}
          />
        ))}
      </ul>
    </section>
  );
}

function ScheduleCard({
  schedule,
  now,
  onActed,
}: {
  schedule: Schedule;
  now: number;
  onActed: () => void;
}) {
  const api = useApi();
  const { isBusy, act } = useRunAction(onActed);
  const { name } = schedule;
  const togglePause = (): void =>
    void (schedule.paused
      ? act(
          "resume the schedule",
          async () => void (await api.call((client) => client.resumeSchedule(name))),
          `Schedule ${name} resumed: it fires from its next tick.`,
        )
      : act(
          "pause the schedule",
          async () => void (await api.call((client) => client.pauseSchedule(name))),
          `Schedule ${name} paused: its ticks start no run until it is resumed.`,
        ));
  const trigger = (): void =>
    void act(
      "trigger the schedule",
      async () => void (await api.call((client) => client.triggerSchedule(name))),
      `Schedule ${name} triggered: a run starts now.`,
    );

  return (
    <li
      className={`card schedule-card health-${schedule.paused ? "warn" : "good"}`}
      data-schedule={name}
    >
      <header className="card-header">
        <h2 className="mono">{name}</h2>
        <span className="chip">{schedule.paused ? "paused" : "active"}</span>
      </header>
      <p className="muted">
        <span className="mono">{schedule.cron}</span> ({schedule.timezone}) starts{" "}
        <span className="mono">{schedule.workflow}</span> · overlap {schedule.overlap} · catch-up{" "}
        {schedule.catchup}
      </p>
      <dl className="metrics">
        <div className="metric">
          <dt>Fired</dt>
          <dd>{formatCount(schedule.firedCount)}</dd>
        </div>
        <div className={schedule.skippedCount > 0 ? "metric tone-bad" : "metric"}>
          <dt>Skipped</dt>
          <dd title={schedule.lastSkipReason ? `last: ${schedule.lastSkipReason}` : undefined}>
            {formatCount(schedule.skippedCount)}
          </dd>
        </div>
      </dl>
      <h3>Next fire times</h3>
      {schedule.nextFireTimes.length === 0 ? (
        <p className="muted">None while paused.</p>
      ) : (
        <ol className="next-fire-times" aria-label={`Next fire times of ${name}`}>
          {schedule.nextFireTimes.map((at) => (
            <li key={at}>
              <time dateTime={at}>{formatDateTime(at)}</time>{" "}
              <span className="muted">in {formatDuration(Math.max(0, Date.parse(at) - now))}</span>
            </li>
          ))}
        </ol>
      )}
      <h3>Last runs</h3>
      {schedule.lastRuns.length === 0 ? (
        <p className="muted">No runs yet.</p>
      ) : (
        <ul className="last-runs" aria-label={`Last runs of ${name}`}>
          {schedule.lastRuns.map((run) => (
            <li key={run.runId}>
              <StatusBadge status={run.status} />{" "}
              <Link to={runHref(run.runId)} className="mono">
                {run.runId}
              </Link>{" "}
              <span className="muted">{formatAgo(run.createdAt, now)}</span>
            </li>
          ))}
        </ul>
      )}
      <div className="actions" role="group" aria-label={`Actions on ${name}`}>
        <button type="button" className="button" disabled={isBusy} onClick={togglePause}>
          {schedule.paused ? "Resume" : "Pause"}
        </button>
        <button type="button" className="button button-primary" disabled={isBusy} onClick={trigger}>
          Trigger now
        </button>
      </div>
    </li>
  );
}
