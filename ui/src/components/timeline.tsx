import type { CSSProperties } from "react";
import { formatDuration, formatOffset } from "../lib/format.js";
import {
  axisTicks,
  percentOf,
  type Timeline as TimelineModel,
  type TimelineRow,
} from "../lib/timeline-model.js";

/**
 * Every step as a bar on the run's time axis: work solid, waits (timers, signals, child runs)
 * hatched, coloured by outcome; failed attempts as ✕ marks with their backoff; compensations
 * in a lane of their own, each naming the step it undoes; run-level moments as vertical lines.
 */
export function Timeline({
  timeline,
  selectedSeq,
  onSelect,
}: {
  timeline: TimelineModel;
  selectedSeq: number | undefined;
  onSelect: (seq: number | undefined) => void;
}) {
  const span = timeline.end - timeline.start;
  const ticks = axisTicks(span);
  const isEmpty = timeline.rows.length === 0 && timeline.compensations.length === 0;
  const markers = placeMarkers(timeline);
  const labelLines = Math.max(0, ...markers.map((m) => m.line + 1));
  return (
    <div className="timeline" data-testid="timeline">
      <Legend />
      <div className="timeline-axis" aria-hidden="true">
        <span className="timeline-axis-spacer">time since start</span>
        <span className="timeline-axis-track">
          {ticks.map((tick) => (
            <span
              key={tick}
              className="timeline-tick"
              style={{ left: `${span > 0 ? (tick / span) * 100 : 0}%` }}
            >
              {formatOffset(tick)}
            </span>
          ))}
        </span>
      </div>
      <div
        className="timeline-body"
        style={{ paddingBottom: `${labelLines * MARKER_LINE_REM + 0.3}rem` }}
      >
        <div className="timeline-gridlines" aria-hidden="true">
          {ticks.map((tick) => (
            <span
              key={tick}
              className="timeline-gridline"
              style={{ left: `${span > 0 ? (tick / span) * 100 : 0}%` }}
            />
          ))}
          {markers.map((marker) => (
            <span
              key={`${marker.type}-${marker.at}`}
              className={`timeline-marker marker-${marker.type.replace(".", "-")}`}
              style={{ left: `${marker.percent}%` }}
              title={`${marker.label} at ${formatOffset(marker.at - timeline.start)}`}
            >
              <span
                className={`timeline-marker-label${marker.percent > 80 ? " is-left" : ""}`}
                style={{ bottom: `${marker.line * MARKER_LINE_REM}rem` }}
              >
                {marker.label}
              </span>
            </span>
          ))}
        </div>
        {isEmpty && <p className="muted timeline-empty">No steps yet.</p>}
        <ol className="timeline-rows" aria-label="Steps">
          {timeline.rows.map((row) => (
            <Row
              key={row.seq}
              row={row}
              timeline={timeline}
              isSelected={row.seq === selectedSeq}
              onSelect={onSelect}
            />
          ))}
        </ol>
        {timeline.compensations.length > 0 && (
          <>
            <h3 className="timeline-lane-title" id="compensation-lane">
              <span aria-hidden="true">↩ </span>Compensations, in the order they ran
            </h3>
            <ol className="timeline-rows" aria-labelledby="compensation-lane">
              {timeline.compensations.map((row) => (
                <Row
                  key={row.seq}
                  row={row}
                  timeline={timeline}
                  isSelected={row.seq === selectedSeq}
                  onSelect={onSelect}
                />
              ))}
            </ol>
          </>
        )}
      </div>
    </div>
  );
}

function Row({
  row,
  timeline,
  isSelected,
  onSelect,
}: {
  row: TimelineRow;
  timeline: TimelineModel;
  isSelected: boolean;
  onSelect: (seq: number | undefined) => void;
}) {
  // After failed attempts, the bar is the attempt that decided the step; what came before it
  // (attempts, backoff, a failure a retry of the run set aside) is drawn faded.
  const decidingStart = row.lastAttemptStart ?? row.start;
  const earlierLeft = percentOf(row.start, timeline);
  const left = percentOf(decidingStart, timeline);
  const width = Math.max(0, percentOf(row.end, timeline) - left);
  const duration = formatDuration(row.end - row.start);
  const isCompensation = row.compensates !== undefined;
  const summary = [
    `#${row.seq} ${row.kind} ${row.name}`,
    isCompensation ? `compensates #${row.compensates} ${row.compensatesName ?? ""}` : "",
    row.outcome === "unfinished" ? "not finished" : row.outcome,
    row.isOpen ? `for ${duration} so far` : `took ${duration}`,
    row.attempts > 1 ? `${row.attempts} attempts` : "",
    row.failures.length ? `${row.failures.length} failed attempts` : "",
    row.error ? `error ${row.error.code}: ${row.error.message}` : "",
  ]
    .filter(Boolean)
    .join(", ");
  const barStyle: CSSProperties = { left: `${left}%`, width: `${width}%` };
  return (
    <li
      className={`timeline-row outcome-${row.outcome}${isCompensation ? " is-compensation" : ""}`}
      data-seq={row.seq}
      data-kind={row.kind}
      data-name={row.name}
      data-outcome={row.outcome}
      data-start={row.start - timeline.start}
      data-end={row.end - timeline.start}
    >
      <button
        type="button"
        className="timeline-row-button"
        aria-pressed={isSelected}
        aria-label={summary}
        title={summary}
        onClick={() => onSelect(isSelected ? undefined : row.seq)}
      >
        <span className="timeline-label">
          <span className="timeline-name">
            <span className="seq">#{row.seq}</span> {row.name}
          </span>
          <span className="timeline-meta">
            {row.kind}
            {isCompensation && (
              <span className="compensates">
                {" "}
                · ↩ undoes #{row.compensates}
                {row.compensatesName ? ` ${row.compensatesName}` : ""}
              </span>
            )}
            {" · "}
            {duration}
            {row.attempts > 1 && ` · ${row.attempts} attempts`}
          </span>
        </span>
        <span className="timeline-track">
          {left > earlierLeft && (
            <span
              className="timeline-earlier"
              style={{ left: `${earlierLeft}%`, width: `${left - earlierLeft}%` }}
              title="earlier attempts"
            />
          )}
          <span
            className={`timeline-bar${row.isWait ? " is-wait" : ""}${row.isOpen ? " is-open" : ""}`}
            style={barStyle}
          />
          {row.failures.map((failure) => {
            const at = percentOf(failure.at, timeline);
            const until =
              failure.retryAt !== undefined ? percentOf(failure.retryAt, timeline) : undefined;
            const text = `attempt ${failure.attempt} failed${failure.error ? `: ${failure.error.message}` : ""}`;
            return (
              <span key={`${failure.attempt}-${failure.at}`}>
                {until !== undefined && until > at && (
                  <span
                    className="timeline-backoff"
                    style={{ left: `${at}%`, width: `${until - at}%` }}
                    title={`backing off before attempt ${failure.attempt + 1}`}
                  />
                )}
                <span className="timeline-attempt" style={{ left: `${at}%` }} title={text}>
                  ✕
                </span>
              </span>
            );
          })}
          {row.voidedFailures.map((failure) => (
            <span
              key={`voided-${failure.at}`}
              className="timeline-attempt is-voided"
              style={{ left: `${percentOf(failure.at, timeline)}%` }}
              title={`failed${failure.error ? `: ${failure.error.message}` : ""} — then the run was retried`}
            >
              ✕
            </span>
          ))}
        </span>
      </button>
    </li>
  );
}

const MARKER_LINE_REM = 1.15;

/** Run-level moments with their labels on as many lines as it takes for them not to overlap. */
function placeMarkers(timeline: TimelineModel) {
  const placed: Array<TimelineModel["markers"][number] & { percent: number; line: number }> = [];
  for (const marker of [...timeline.markers].sort((a, b) => a.at - b.at)) {
    const percent = percentOf(marker.at, timeline);
    let line = 0;
    while (placed.some((other) => other.line === line && Math.abs(other.percent - percent) < 12)) {
      line++;
    }
    placed.push({ ...marker, percent, line });
  }
  return placed;
}

function Legend() {
  return (
    <ul className="legend" aria-label="Legend">
      <li>
        <span className="swatch outcome-completed" /> completed
      </li>
      <li>
        <span className="swatch outcome-failed" /> failed
      </li>
      <li>
        <span className="swatch outcome-running" /> running
      </li>
      <li>
        <span className="swatch outcome-waiting is-wait" /> waiting (timer, signal, child)
      </li>
      <li>
        <span className="swatch is-compensation-swatch" /> compensation
      </li>
      <li>
        <span className="legend-attempt">✕</span> failed attempt
      </li>
    </ul>
  );
}
