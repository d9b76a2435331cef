/**
 * Every table that holds rows of a run, by the column that names the run. Deleting a run past its
 * retention deletes its rows of each of these, in this order, in the same transaction, and its
 * row in `runs` last. A table that gets rows belonging to a run (webhook deliveries, user events…)
 * joins this list, with an index on that column (the sweeper deletes by it), in both stores'
 * migrations; a reference that must outlive the run (a schedule's last run) is not listed here and
 * must tolerate the run being gone.
 */
export const RUN_OWNED_TABLES: ReadonlyArray<{ table: string; runColumn: string }> = [
  { table: "journal", runColumn: "run_id" },
  { table: "tasks", runColumn: "run_id" },
  { table: "signals", runColumn: "run_id" },
  { table: "events", runColumn: "run_id" },
  { table: "run_tags", runColumn: "run_id" },
];

/**
 * The terminal runs a sweep may take at `now`: past their deleteAfter, and not children whose
 * parent still exists (a child goes after its parent, so a parent never shows a child that is
 * gone). `param` renders a parameter of the dialect; the earliest due go first.
 */
export function expiredRunsSql(
  param: (value: unknown) => string,
  now: number,
  limit: number,
): string {
  return `SELECT run_id FROM runs r
    WHERE r.delete_after <= ${param(now)}
      -- NOT IN on purpose: an IN list would lead the planner to the status index (every terminal
      -- run, sorted) instead of the delete_after range it needs.
      AND r.status NOT IN ('pending', 'running', 'waiting', 'compensating')
      AND (r.parent_run_id IS NULL OR NOT EXISTS (SELECT 1 FROM runs p WHERE p.run_id = r.parent_run_id))
    ORDER BY r.delete_after LIMIT ${param(limit)}`;
}
