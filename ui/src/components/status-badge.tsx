import type { RunStatus } from "baton/client";

const ICONS: Record<RunStatus, string> = {
  pending: "○",
  running: "▶",
  waiting: "❚❚",
  compensating: "↺",
  completed: "✓",
  compensated: "↩",
  failed: "✕",
  cancelled: "⊘",
};

/** A run's status: colour, a shape that does not rely on colour, and the word. */
export function StatusBadge({ status }: { status: RunStatus }) {
  return (
    <span className={`badge status-${status}`} data-status={status}>
      <span aria-hidden="true" className="badge-icon">
        {ICONS[status]}
      </span>
      {status}
    </span>
  );
}
