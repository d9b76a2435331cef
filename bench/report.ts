import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Plan } from "./plan.js";
import type { ScaleResult } from "./scale/index.js";
import type { Spread } from "./stats.js";
import { FIGURES, type W1Summary } from "./summary.js";
import type { TargetName } from "./target.js";

const TARGET_TITLES: Record<TargetName, string> = {
  "lower-bound": "lower bound (no durability)",
  "sqlite-full": "Baton sqlite synchronous=FULL",
  "sqlite-normal": "Baton sqlite synchronous=NORMAL",
  postgres: "Baton postgres",
};

/** What the W1 table says beyond the summaries: targets that could not run, and why. */
export interface W1Notes {
  /** Targets not measured, with the reason (e.g. no PostgreSQL server). */
  unavailable: Partial<Record<TargetName, string>>;
  /** A target's column title, where it says more than the default (the server's settings). */
  titles: Partial<Record<TargetName, string>>;
}

/** Plain numbers: thousands separators when large, three significant digits when small. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return "–";
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString("en-US");
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  if (abs === 0) return "0";
  return x.toPrecision(3);
}

export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return "–";
  if (r >= 100) return `${Math.round(r).toLocaleString("en-US")}×`;
  if (r >= 0.01) return `${r.toPrecision(3)}×`;
  return `${r.toPrecision(2)}×`;
}

function formatSpread(s: Spread, repetitions: number): string {
  const median = formatNumber(s.median);
  return repetitions > 1 ? `${median} [${formatNumber(s.min)}–${formatNumber(s.max)}]` : median;
}

/** One card per W1 load point: the figures down, the targets across. */
export function renderW1(summaries: readonly W1Summary[], plan: Plan, notes: W1Notes = { unavailable: {}, titles: {} }): string {
  const lines: string[] = [];
  const reps = plan.repetitions;
  lines.push(
    `W1 order saga, closed loop — ${reps > 1 ? `median of ${reps} repetitions [min–max]` : "1 repetition"}; ` +
      `"×" = Baton ÷ lower bound (medians, same bench run)`,
  );
  for (const variant of plan.variants) {
    for (const load of plan.loads) {
      const row = summaries.filter((s) => s.variant === variant && s.runs === load.runs && s.concurrency === load.concurrency);
      if (row.length === 0) continue;
      const targets = plan.targets.map((t) => row.find((s) => s.target === t)).filter((s): s is W1Summary => s !== undefined);
      lines.push("");
      lines.push(`${variant} · N=${load.runs.toLocaleString("en-US")} · C=${load.concurrency} · ${plan.warmup} warm-up runs`);
      const table: string[][] = [["", ...targets.map((t) => notes.titles[t.target] ?? TARGET_TITLES[t.target])]];
      for (const figure of FIGURES) {
        // Rows only some targets have (the database server's) are shown where one of them runs.
        if (!targets.some((t) => t.figures[figure.key])) continue;
        table.push([
          figure.label,
          ...targets.map((t) => {
            const spread = t.figures[figure.key];
            if (!spread) return "–";
            const cell = formatSpread(spread, t.repetitions);
            const ratio = t.ratios?.[figure.key];
            return ratio !== undefined ? `${cell}  ${formatRatio(ratio)}` : cell;
          }),
        ]);
      }
      table.push([
        "outcomes",
        ...targets.map(
          (t) =>
            `${t.completed} completed, ${t.compensated} compensated` +
            (t.engineWarnings ? ` (${t.engineWarnings} warnings logged)` : "") +
            (t.problems ? "  FAILED CHECKS" : ""),
        ),
      ]);
      lines.push(...renderTable(table));
      for (const t of targets) {
        if (t.serverUnavailable) lines.push(`${t.target}: database server processes not measured: ${t.serverUnavailable}`);
      }
      for (const [target, reason] of Object.entries(notes.unavailable)) lines.push(`${target}: n/a (${reason})`);
    }
  }
  if (Object.keys(notes.titles).length || summaries.some((s) => s.figures.serverRssMiB)) {
    lines.push("");
    lines.push(
      "db server rows: the PostgreSQL processes serving the case (postmaster, server-wide processes, the case database's backends), " +
        "sampled every 200 ms from /proc; RSS counts shared buffers once per process, PSS splits them; the engine's own memory is the peak RSS row.",
    );
  }
  return lines.join("\n");
}

export function renderScale(results: readonly ScaleResult[], plan: Plan): string {
  const lines = [`W2 scale (${plan.scale.waitingRuns.toLocaleString("en-US")} waiting runs; ${plan.scale.killRuns.toLocaleString("en-US")} runs in the kill test)`];
  for (const result of results) {
    lines.push("");
    if (result.status === "n/a") {
      lines.push(`${result.title}: n/a (${result.reason})`);
      continue;
    }
    lines.push(`${result.title}${result.problems.length ? "  FAILED CHECKS" : ""}`);
    lines.push(...renderTable(result.values.map((v) => [`  ${v.label}`, `${formatNumber(v.value)} ${v.unit}`]), [false, true]));
    if (result.note) lines.push(`  (${result.note})`);
  }
  return lines.join("\n");
}

/** Left-aligned columns (right-aligned where `right` says), two spaces apart. */
function renderTable(rows: string[][], right: boolean[] = []): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

/** bench-results/<timestamp>.json under the repository root. */
export function defaultJsonPath(root: string, startedAt: Date): string {
  return join(root, "bench-results", `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
}

/** Writes the full results to `path` (its directory made if missing) and returns the path. */
export function writeJson(path: string, data: unknown): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}
