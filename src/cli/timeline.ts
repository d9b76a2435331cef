import { isTerminal, type Run, type StepView } from "../common/index.js";
import { formatDuration, truncate } from "./format.js";
import { visibleWidth } from "./table.js";
import type { Style } from "./terminal.js";

export interface TimelineOptions {
  /** Columns for the bars. */
  width: number;
  /** The end of the axis for a run still going. */
  now: number;
  style: Style;
}

const LABEL_WIDTH = 28;

/**
 * The run's steps as bars on one time axis, from the run's creation to its end (or now):
 *
 *   timeline                     0 ──────────────────────── 388 ms
 *     1 inventory.reserve          ███
 *     2 payments.charge               ██████████
 *     3 shipping.ship                           ███
 *   ↺ 4 payments.refund                            ██
 *
 * Work (steps and calls) is drawn solid, waiting (sleeps, signals, children) shaded.
 */
export function renderTimeline(run: Run, options: TimelineOptions): string[] {
  const steps = run.steps.filter((step) => step.startedAt !== undefined);
  if (steps.length === 0) return [];
  const origin = Date.parse(run.createdAt);
  const end = endOf(run, options.now);
  const span = Math.max(end - origin, 1);
  const width = Math.max(10, options.width);
  const column = (at: number): number =>
    Math.min(width, Math.max(0, Math.round(((at - origin) / span) * width)));

  const total = formatDuration(span);
  const axis = `0 ${"─".repeat(Math.max(1, width - 3 - total.length))} ${total}`;
  const lines = [`${"timeline".padEnd(LABEL_WIDTH)}${options.style.dim(axis)}`];
  for (const step of steps) {
    // Every step gets at least one column, even one too short to show at this scale.
    const from = Math.min(column(Date.parse(step.startedAt ?? run.createdAt)), width - 1);
    const to = Math.max(from + 1, column(step.endedAt ? Date.parse(step.endedAt) : end));
    const glyph = step.kind === "step" || step.kind === "call" ? "█" : "░";
    const bar = " ".repeat(from) + glyph.repeat(to - from);
    lines.push(`${labelOf(step)}${colourOf(step, options.style)(bar)}`);
  }
  return lines;
}

function labelOf(step: StepView): string {
  const mark = step.compensates !== undefined ? "↺" : " ";
  const label = `${mark} ${String(step.seq).padStart(3)} ${truncate(step.name, LABEL_WIDTH - 8)}`;
  return label + " ".repeat(Math.max(1, LABEL_WIDTH - visibleWidth(label)));
}

function colourOf(step: StepView, style: Style): (text: string) => string {
  if (step.status === "failed") return style.red;
  if (step.status !== "completed") return style.cyan;
  return step.compensates !== undefined ? style.yellow : style.green;
}

/** The run's end, or now while it goes on; never before its last step's end. */
function endOf(run: Run, now: number): number {
  const stepEnds = run.steps.map((step) => (step.endedAt ? Date.parse(step.endedAt) : 0));
  const runEnd = isTerminal(run.status) ? Date.parse(run.updatedAt) : now;
  return Math.max(runEnd, ...stepEnds);
}
