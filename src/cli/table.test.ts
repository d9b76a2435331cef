import { stripVTControlCharacters } from "node:util";
import { describe, expect, it } from "vitest";
import { renderTable } from "./table.js";

describe("renderTable", () => {
  it("aligns columns by visible width, ignoring colour codes, numbers to the right", () => {
    const lines = renderTable(
      [{ header: "status" }, { header: "attempts", align: "right" }, { header: "error" }],
      [
        ["\u001b[32mcompleted\u001b[39m", "1", ""],
        ["failed", "12", "OUT_OF_STOCK: none left"],
      ],
    );
    expect(lines.map((line) => stripVTControlCharacters(line))).toEqual([
      "STATUS     ATTEMPTS  ERROR",
      "completed         1",
      "failed           12  OUT_OF_STOCK: none left",
    ]);
  });
});
