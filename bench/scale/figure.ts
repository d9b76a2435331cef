import type { ScalePlan } from "../plan.js";

export interface ScaleValue {
  label: string;
  value: number;
  unit: string;
}

export type ScaleResult =
  | { id: string; title: string; status: "measured"; values: ScaleValue[]; problems: string[]; note?: string }
  | { id: string; title: string; status: "n/a"; reason: string };

/** One W2 figure. Adding a figure is one module exporting one of these, listed in index.ts. */
export interface ScaleFigure {
  id: string;
  title: string;
  run(plan: ScalePlan, progress: (phase: string, done: number, total: number) => void): Promise<ScaleResult>;
}

/** A figure whose prerequisite does not exist yet: its slot shows in the report as n/a. */
export function notAvailable(id: string, title: string, reason: string): ScaleFigure {
  return { id, title, run: () => Promise.resolve({ id, title, status: "n/a", reason }) };
}
