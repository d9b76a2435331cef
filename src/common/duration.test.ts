import { describe, expect, it } from "vitest";
import { parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["15m", 900_000],
    ["12h", 43_200_000],
    ["30d", 2_592_000_000],
    ["500ms", 500],
    ["0", 0],
    [" 7d ", 604_800_000],
    [0, 0],
    [1_500, 1_500],
  ] as const)("%j is %i ms", (text, ms) => {
    expect(parseDuration(text, "retention")).toBe(ms);
  });

  it.each(["", "30", "-1d", "1.5h", "30 days", "1w", "d", "1e3s", "99999999999999d", -1, 1.5, NaN])(
    "refuses %j with INVALID_DURATION naming the setting",
    (text) => {
      expect(() => parseDuration(text, "retention")).toThrow(
        expect.objectContaining({
          code: "INVALID_DURATION",
          message: expect.stringContaining("retention") as string,
        }) as Error,
      );
    },
  );
});
