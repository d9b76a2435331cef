import { describe, expect, it } from "vitest";
import { decidePatch, type PatchPoint } from "./patches.js";

const marker = (name: string) => ({ kind: "patch" as const, name });
const step = (name: string) => ({ kind: "step" as const, name });
const base: PatchPoint = {
  id: "p1",
  deprecated: false,
  earlier: undefined,
  atSeq: undefined,
  journalGoesPast: false,
};
const taken = { patched: true, consume: true, append: false };
const written = { patched: true, consume: true, append: true };
const oldPath = { patched: false, consume: false, append: false };

describe("patch rules", () => {
  it.each([
    // patched(id)
    { why: "journal ends here: first time on patched code", at: {}, expected: written },
    { why: "the marker of this patch is here", at: { atSeq: marker("p1") }, expected: taken },
    {
      why: "another operation is here: went past before the patch",
      at: { atSeq: step("ship") },
      expected: oldPath,
    },
    {
      why: "another patch's marker is here (added later than this one)",
      at: { atSeq: marker("p0") },
      expected: oldPath,
    },
    {
      why: "a hole here, later seqs exist (an op in flight)",
      at: { journalGoesPast: true },
      expected: oldPath,
    },
    {
      why: "marker here even though the journal goes past",
      at: { atSeq: marker("p1"), journalGoesPast: true },
      expected: taken,
    },
    {
      why: "answered true before in this run",
      at: { earlier: true, atSeq: step("x") },
      expected: { patched: true, consume: false, append: false },
    },
    { why: "answered false before in this run", at: { earlier: false }, expected: oldPath },
    // deprecatePatch(id): same rules, the answer is not used
    {
      why: "deprecated, journal ends here: writes the marker",
      at: { deprecated: true },
      expected: written,
    },
    {
      why: "deprecated, marker here: takes it",
      at: { deprecated: true, atSeq: marker("p1") },
      expected: taken,
    },
    {
      why: "deprecated, an old run without the marker: takes nothing",
      at: { deprecated: true, atSeq: step("ship") },
      expected: oldPath,
    },
    {
      why: "deprecated, a hole with later seqs",
      at: { deprecated: true, journalGoesPast: true },
      expected: oldPath,
    },
  ])("$why", ({ at, expected }) => {
    expect(decidePatch({ ...base, ...at })).toEqual(expected);
  });
});
