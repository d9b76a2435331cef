import { stripVTControlCharacters } from "node:util";

export interface Column {
  header: string;
  /** Right-aligned: numbers and durations. */
  align?: "left" | "right";
}

/**
 * Plain-text columns separated by two spaces, aligned by visible width (colour codes do not
 * count). The last column is not padded, so long errors do not leave trailing blanks.
 */
export function renderTable(columns: readonly Column[], rows: readonly string[][]): string[] {
  const widths = columns.map((column, i) =>
    Math.max(visibleWidth(column.header), ...rows.map((row) => visibleWidth(row[i] ?? ""))),
  );
  const line = (cells: readonly string[], style: (s: string) => string = (s) => s): string =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? "";
        const width = widths[i] ?? 0;
        const isLast = i === columns.length - 1;
        if (column.align === "right") return style(pad(cell, width, "left"));
        return isLast ? style(cell) : style(pad(cell, width, "right"));
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...rows.map((row) => line(row))];
}

export function visibleWidth(text: string): number {
  return [...stripVTControlCharacters(text)].length;
}

function pad(text: string, width: number, side: "left" | "right"): string {
  const fill = " ".repeat(Math.max(0, width - visibleWidth(text)));
  return side === "left" ? fill + text : text + fill;
}
