import type { HistoryEvent } from "baton/client";
import { memo, useState } from "react";
import { compactJson, formatClock, formatOffset } from "../lib/format.js";

/** Rows shown before "show all": a long journal must not freeze the page. */
const SHOWN_ROWS = 300;

/**
 * The raw journal, oldest first: position, time, `{kind}.{event}`, seq, name, data. Memoised:
 * the run page re-renders twice a second while a run goes on, the journal only when it grows.
 */
export const JournalTable = memo(function JournalTable({
  events,
  start,
  highlightSeq,
  testId,
}: {
  events: readonly HistoryEvent[];
  start: number;
  highlightSeq?: number | undefined;
  testId?: string;
}) {
  const [isFull, setFull] = useState(false);
  const shown = isFull ? events : events.slice(0, SHOWN_ROWS);
  if (events.length === 0) return <p className="muted">No entries.</p>;
  return (
    <div className="table-wrap">
      <table className="journal-table" data-testid={testId}>
        <thead>
          <tr>
            <th scope="col" className="numeric">
              #
            </th>
            <th scope="col">At</th>
            <th scope="col">Entry</th>
            <th scope="col" className="numeric">
              Seq
            </th>
            <th scope="col">Name</th>
            <th scope="col">Data</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((event) => {
            const at = Date.parse(event.at);
            return (
              <tr
                key={event.position}
                data-type={event.type}
                className={[
                  `entry-${entryTone(event.type)}`,
                  highlightSeq !== undefined && event.seq === highlightSeq ? "is-highlighted" : "",
                ].join(" ")}
              >
                <td className="numeric mono">{event.position}</td>
                <td className="mono" title={event.at}>
                  {formatClock(at)} <span className="muted">{formatOffset(at - start)}</span>
                </td>
                <td>
                  <span className={`entry-type entry-${entryTone(event.type)}`}>{event.type}</span>
                </td>
                <td className="numeric mono">{event.seq ?? ""}</td>
                <td className="mono">{event.name ?? ""}</td>
                <td className="mono journal-data">
                  {event.data === undefined ? (
                    ""
                  ) : JSON.stringify(event.data).length <= 100 ? (
                    compactJson(event.data, 100)
                  ) : (
                    <details>
                      <summary>{compactJson(event.data, 90)}</summary>
                      <pre>{JSON.stringify(event.data, null, 2)}</pre>
                    </details>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {shown.length < events.length && (
        <button type="button" className="button button-small" onClick={() => setFull(true)}>
          Show all {events.length} entries
        </button>
      )}
    </div>
  );
});

function entryTone(type: string): "good" | "bad" | "warn" | "phase" | "plain" {
  const event = type.slice(type.indexOf(".") + 1);
  if (type.startsWith("run.")) {
    if (event === "completed") return "good";
    if (event === "failed" || event === "cancelled") return "bad";
    return "phase";
  }
  if (event === "completed" || event === "received") return "good";
  if (event === "failed") return "bad";
  if (event === "attempt_failed") return "warn";
  return "plain";
}
