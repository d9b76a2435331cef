import { describe, expect, it } from "vitest";
import { refuseContinue, type ContinueRequest } from "./continue-as-new.js";

const base: ContinueRequest = {
  runId: "r-1",
  replayRemainingOps: 0,
  phase: "running",
  stopping: false,
  compensating: false,
  unsettled: [],
  input: { n: 1 },
  maxInputBytes: 1_000,
};

describe("continueAsNew: when it is taken", () => {
  it.each([
    { case: "a running workflow with nothing in flight", change: {}, answer: undefined },
    {
      case: "timers and signal waits still pending (dropped)",
      change: {
        unsettled: [
          { seq: 2, kind: "sleep" as const, name: "sleep" },
          { seq: 3, kind: "signal" as const, name: "go" },
        ],
      },
      answer: undefined,
    },
    {
      case: "a step in flight (or called inside a step)",
      change: { unsettled: [{ seq: 2, kind: "step" as const, name: "fetch" }] },
      answer: "CONTINUE_AS_NEW_REFUSED",
    },
    {
      case: "a call in flight",
      change: { unsettled: [{ seq: 2, kind: "call" as const, name: "payments.charge" }] },
      answer: "CONTINUE_AS_NEW_REFUSED",
    },
    {
      case: "a child in flight",
      change: { unsettled: [{ seq: 2, kind: "child" as const, name: "sub" }] },
      answer: "CONTINUE_AS_NEW_REFUSED",
    },
    { case: "a compensation", change: { compensating: true }, answer: "CONTINUE_AS_NEW_REFUSED" },
    {
      case: "while settling",
      change: { phase: "settling" as const },
      answer: "CONTINUE_AS_NEW_REFUSED",
    },
    {
      case: "while compensating",
      change: { phase: "compensating" as const },
      answer: "CONTINUE_AS_NEW_REFUSED",
    },
    {
      case: "a run being stopped (cancel, deadline)",
      change: { stopping: true },
      answer: "ignore",
    },
    {
      case: "the journal has more (replay)",
      change: { replayRemainingOps: 2 },
      answer: "NON_DETERMINISM",
    },
    { case: "input that is not JSON", change: { input: { f: () => 1 } }, answer: "INPUT_NOT_JSON" },
    {
      case: "input over the limit",
      change: { input: "x".repeat(1_000) },
      answer: "INPUT_TOO_LARGE",
    },
  ])("$case → $answer", ({ change, answer }) => {
    const result = refuseContinue({ ...base, ...change });
    expect(typeof result === "object" ? result.code : result).toBe(answer);
  });

  it("names what is in flight", () => {
    const result = refuseContinue({
      ...base,
      unsettled: [{ seq: 4, kind: "call", name: "payments.charge" }],
    });
    expect(result).toMatchObject({
      message: expect.stringContaining("call payments.charge (seq 4)"),
    });
  });
});
