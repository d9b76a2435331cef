import { describe, expect, it } from "vitest";
import { formatDuration, withoutPassword } from "./format.js";

describe("withoutPassword", () => {
  it("hides a postgres password and leaves other URLs as they are", () => {
    expect(withoutPassword("postgres://baton:s3cret@db:5432/baton?pool=5")).toBe(
      "postgres://baton:***@db:5432/baton?pool=5",
    );
    expect(withoutPassword("postgres://db/baton")).toBe("postgres://db/baton");
    expect(withoutPassword("sqlite:.baton/baton.db")).toBe("sqlite:.baton/baton.db");
  });
});

describe("formatDuration", () => {
  it("reads like a person would say it", () => {
    expect([0, 412, 3_217, 42_000, 245_000, 7_500_000].map(formatDuration)).toEqual([
      "0 ms",
      "412 ms",
      "3.22 s",
      "42.0 s",
      "4 min 05 s",
      "2 h 05 min",
    ]);
  });
});
