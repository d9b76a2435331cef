import type { NewRun } from "./store.js";

/** The time the store tests' records are made at. */
export const T0 = Date.UTC(2026, 0, 1);

/** A run as the store tests create it: workflow `order`, no input, started at `createdAt`. */
export function newRun(runId: string, fields: Partial<Omit<NewRun, "runId">> = {}): NewRun {
  const createdAt = fields.createdAt ?? T0;
  return {
    runId,
    workflow: "order",
    input: null,
    createdAt,
    parentRunId: null,
    parentSeq: null,
    firstEntry: {
      position: 0,
      seq: null,
      type: "run.started",
      name: null,
      data: null,
      at: createdAt,
    },
    ...fields,
  };
}
