import type { Run } from "../common/index.js";

/**
 * A Run as the API sends it. Every Run has `input` (docs/http-api.md); a run
 * started without input holds `undefined`, which JSON would drop, so it goes out as null.
 */
export function runAnswer(run: Run): Run {
  return run.input === undefined ? { ...run, input: null } : run;
}
