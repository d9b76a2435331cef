import { decodeCursor } from "./cursor.js";
import type { RunQuery } from "./store.js";

/**
 * The runs list as SQL for both dialects, newest first with an exact keyset cursor. `param`
 * renders a parameter; `prefix` the dialect's case-sensitive run id prefix condition on `r`.
 *
 * With tags, the first tag drives: its (key, value, created_at, run_id) index range is read newest
 * first and the rest are checked per row, so a search for a rare tag reads only that tag's runs
 * however many runs there are. created_at is copied into run_tags so the time bounds and the cursor
 * apply to that range too.
 */
export function runSearchSql(
  query: RunQuery,
  param: (value: unknown) => string,
  prefix: (runIdPrefix: string) => string,
): string {
  const [first, ...rest] = query.tags ?? [];
  // The alias whose (created_at, run_id) orders the answer: the driving index's table.
  const by = first ? "t0" : "r";
  const where: string[] = [];
  if (first) where.push(`t0.key = ${param(first.key)} AND t0.value = ${param(first.value)}`);
  rest.forEach((tag, i) => {
    where.push(
      `EXISTS (SELECT 1 FROM run_tags t${i + 1} WHERE t${i + 1}.run_id = r.run_id ` +
        `AND t${i + 1}.key = ${param(tag.key)} AND t${i + 1}.value = ${param(tag.value)})`,
    );
  });
  if (query.workflow !== undefined) where.push(`r.workflow = ${param(query.workflow)}`);
  if (query.status !== undefined) where.push(`r.status = ${param(query.status)}`);
  if (query.runIdPrefix !== undefined) where.push(prefix(query.runIdPrefix));
  if (query.createdAfter !== undefined)
    where.push(`${by}.created_at >= ${param(query.createdAfter)}`);
  if (query.createdBefore !== undefined)
    where.push(`${by}.created_at < ${param(query.createdBefore)}`);
  if (query.cursor !== undefined) {
    const cursor = decodeCursor(query.cursor);
    // A row value: one range of the (…, created_at, run_id) index, not an OR of two.
    where.push(
      `(${by}.created_at, ${by}.run_id) < (${param(cursor.createdAt)}, ${param(cursor.runId)})`,
    );
  }
  const from = first ? "run_tags t0 JOIN runs r ON r.run_id = t0.run_id" : "runs r";
  return `SELECT r.* FROM ${from} ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
          ORDER BY ${by}.created_at DESC, ${by}.run_id DESC LIMIT ${param(query.limit + 1)}`;
}
