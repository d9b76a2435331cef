import type { ExpectedRuns } from "./store-check.js";
import type { Order, Outcome } from "./workloads/order-saga.js";

/** What a W1 case measures: an engine, or the lower bound. */
export const TargetName = {
  LowerBound: "lower-bound",
  SqliteFull: "sqlite-full",
  SqliteNormal: "sqlite-normal",
  Postgres: "postgres",
} as const;
export type TargetName = (typeof TargetName)[keyof typeof TargetName];
export const TARGET_NAMES: readonly TargetName[] = Object.values(TargetName);

export function isTargetName(value: string): value is TargetName {
  return (TARGET_NAMES as readonly string[]).includes(value);
}

/** Checks a target can make once the runs are over, beyond the outcomes the driver saw. */
export interface TargetCheck {
  problems: string[];
  /** Facts worth keeping in the JSON (store row counts, file size …). */
  facts: Record<string, number>;
}

export interface Target {
  /** Runs one order to its end: starts it and holds its result. */
  runOrder(order: Order): Promise<Outcome>;
  /** Step bodies executed so far, in effect. */
  stepsExecuted(): number;
  /** Releases the target and checks what it can about the runs whose ids contain `measuredMarker`. */
  finish(measuredMarker: string, expected: ExpectedRuns): Promise<TargetCheck>;
}
