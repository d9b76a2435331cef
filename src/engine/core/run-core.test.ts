import { describe, expect, it } from "vitest";
import {
  NOTHING_RECORDED,
  RunCore,
  type CompensationFailurePolicy,
  type RecordedRollback,
  type RunEffect,
  type RunInput,
} from "./run-core.js";

// The rules of a run as tables: a core brought into a phase by a few inputs, one more input, and
// the effects (with the phase after) it must answer. No database, no clock, no sleep.

const boom = { code: "HTTP_500", message: "refund service down" };

const settled = (seq: number, policy: CompensationFailurePolicy = "terminate"): RunInput => ({
  type: "opSettled",
  seq,
  kind: "call",
  name: `svc.op${seq}`,
  outcome: "completed",
  compensation: { output: { id: seq }, policy },
});
const unknownSettled = (seq: number): RunInput => ({
  type: "opSettled",
  seq,
  kind: "call",
  name: `svc.op${seq}`,
  outcome: "unknown",
  unknownWithoutCompensation: true,
});
const threw: RunInput = {
  type: "workflowThrew",
  error: { code: "OUT_OF_STOCK", message: "no" },
  causeSeq: 3,
};
const marker: RunInput = { type: "phaseMarker" };
const failedComp: RunInput = { type: "compensationFailed", error: boom, now: 1_000, random: 0.5 };

/** A core with two completed compensable calls (seq 1 terminate, seq 2 `policy`). */
function running(policy: CompensationFailurePolicy = "terminate"): RunCore {
  const core = new RunCore();
  core.handle(settled(1));
  core.handle(settled(2, policy));
  return core;
}

function after(core: RunCore, ...inputs: RunInput[]): RunCore {
  for (const input of inputs) core.handle(input);
  return core;
}

const PHASES = {
  running: () => running(),
  /** Failed while seq 3 was in flight: waits for it before compensating. */
  settling: () => after(running(), { type: "opInFlight", seq: 3 }, threw),
  /** Settled: the rollback's start is journaled, its marker on its way to the workflow. */
  marked: () => after(running(), threw),
  compensating: () => after(running(), threw, marker),
  cancelling: () => after(running(), { type: "cancelRequested", reason: "customer" }, marker),
  /** Policy retry: seq 2's compensation failed, its next attempt waits. */
  retryWait: () => after(running("retry"), threw, marker, failedComp),
  /** Policy event: seq 2's compensation failed, an operator is wanted. */
  operatorWait: () => after(running("event"), threw, marker, failedComp),
  parked: () =>
    after(running(), { type: "nonDeterminism", error: { code: "NON_DETERMINISM", message: "x" } }),
  ended: () => after(running(), { type: "workflowReturned", output: 1 }),
} satisfies Record<string, () => RunCore>;
type PhaseName = keyof typeof PHASES;

const INPUTS = {
  opInFlight: { type: "opInFlight", seq: 4 },
  opIdle: { type: "opIdle", seq: 3 },
  opSettled: settled(3),
  opSettledUnknown: unknownSettled(3),
  workflowReturned: { type: "workflowReturned", output: { ok: true } },
  workflowThrew: threw,
  cancelRequested: { type: "cancelRequested", reason: "operator" },
  deadlinePassed: { type: "deadlinePassed" },
  limitReached: {
    type: "limitReached",
    error: { code: "HISTORY_TOO_LARGE", message: "journal at its limit" },
  },
  continueRequested: { type: "continueRequested" },
  phaseMarker: { type: "phaseMarker" },
  replayEnded: { type: "replayEnded" },
  nonDeterminism: { type: "nonDeterminism", error: { code: "NON_DETERMINISM", message: "x" } },
  compensationSucceeded: { type: "compensationSucceeded" },
  compensationFailed: failedComp,
  compensationRetryDue: { type: "compensationRetryDue" },
  operatorRetry: { type: "operatorAction", action: "retry", seq: 2 },
  operatorSkip: { type: "operatorAction", action: "skip", seq: 2 },
} satisfies Record<string, RunInput>;
type InputName = keyof typeof INPUTS;

// Effects, abbreviated: the type, and what matters of it.
type Short = string;
function short(effect: RunEffect): Short {
  switch (effect.type) {
    case "append":
      return `append ${effect.entry}`;
    case "stopWorkflow":
      return `stop keep[${effect.keep.join(",")}]`;
    case "startCompensation":
      return `compensate ${effect.seq}#${effect.attempt}`;
    case "armCompensationRetry":
      return `arm ${effect.seq}@${effect.at}`;
    case "publishCompensationFailed":
      return `publish ${effect.seq}#${effect.attempt}`;
    case "finish":
      return `finish ${effect.status}${effect.error ? ` ${effect.error.code}` : ""}`;
    case "discardUncommitted":
      return "discard";
    case "deliverMarker":
      return "marker";
    case "continueAsNew":
      return "continue";
  }
}

const PARK = ["discard", "finish failed NON_DETERMINISM"];
const NONE: Short[] = [];

/** Every input in every phase: [effects, phase after]. */
const TABLE: Record<PhaseName, Record<InputName, [Short[], string]>> = {
  running: {
    opInFlight: [NONE, "running"],
    opIdle: [NONE, "running"],
    opSettled: [NONE, "running"],
    opSettledUnknown: [NONE, "running"],
    workflowReturned: [["finish completed"], "ended"],
    workflowThrew: [["stop keep[]", "append run.compensating", "marker"], "settling"],
    cancelRequested: [
      ["append run.cancel_requested", "stop keep[]", "append run.cancelling", "marker"],
      "settling",
    ],
    deadlinePassed: [
      ["append run.deadline_exceeded", "stop keep[]", "append run.compensating", "marker"],
      "settling",
    ],
    limitReached: [
      ["append run.limit_reached", "stop keep[]", "append run.compensating", "marker"],
      "settling",
    ],
    continueRequested: [["continue"], "ended"],
    phaseMarker: [NONE, "running"],
    replayEnded: [NONE, "running"],
    nonDeterminism: [PARK, "parked"],
    compensationSucceeded: [NONE, "running"],
    compensationFailed: [NONE, "running"],
    compensationRetryDue: [NONE, "running"],
    operatorRetry: [NONE, "running"],
    operatorSkip: [NONE, "running"],
  },
  settling: {
    opInFlight: [NONE, "settling"],
    opIdle: [["append run.compensating", "marker"], "settling"],
    // Completed while the run settled: compensated too (test "settling, then compensating").
    opSettled: [["append run.compensating", "marker"], "settling"],
    opSettledUnknown: [["append run.compensating", "marker"], "settling"],
    workflowReturned: [NONE, "settling"],
    workflowThrew: [NONE, "settling"],
    cancelRequested: [NONE, "settling"],
    deadlinePassed: [NONE, "settling"],
    limitReached: [NONE, "settling"],
    continueRequested: [NONE, "settling"],
    phaseMarker: [NONE, "settling"],
    replayEnded: [NONE, "settling"],
    nonDeterminism: [PARK, "parked"],
    compensationSucceeded: [NONE, "settling"],
    compensationFailed: [NONE, "settling"],
    compensationRetryDue: [NONE, "settling"],
    operatorRetry: [NONE, "settling"],
    operatorSkip: [NONE, "settling"],
  },
  marked: {
    opInFlight: [NONE, "settling"],
    opIdle: [NONE, "settling"],
    opSettled: [NONE, "settling"],
    opSettledUnknown: [NONE, "settling"],
    workflowReturned: [NONE, "settling"],
    workflowThrew: [NONE, "settling"],
    cancelRequested: [NONE, "settling"],
    deadlinePassed: [NONE, "settling"],
    limitReached: [NONE, "settling"],
    continueRequested: [NONE, "settling"],
    // The workflow reacted to everything before it: the rollback starts, newest first.
    phaseMarker: [["compensate 2#1"], "compensating"],
    replayEnded: [NONE, "settling"],
    nonDeterminism: [PARK, "parked"],
    compensationSucceeded: [NONE, "settling"],
    compensationFailed: [NONE, "settling"],
    compensationRetryDue: [NONE, "settling"],
    operatorRetry: [NONE, "settling"],
    operatorSkip: [NONE, "settling"],
  },
  compensating: {
    opInFlight: [NONE, "compensating"],
    opIdle: [NONE, "compensating"],
    opSettled: [NONE, "compensating"],
    opSettledUnknown: [NONE, "compensating"],
    workflowReturned: [NONE, "compensating"],
    workflowThrew: [NONE, "compensating"],
    // A compensation is running: the rollback goes on.
    cancelRequested: [NONE, "compensating"],
    deadlinePassed: [NONE, "compensating"],
    limitReached: [NONE, "compensating"],
    continueRequested: [NONE, "compensating"],
    phaseMarker: [NONE, "compensating"],
    replayEnded: [NONE, "compensating"],
    nonDeterminism: [PARK, "parked"],
    compensationSucceeded: [["compensate 1#1"], "compensating"],
    compensationFailed: [
      ["append compensation.failed", "finish failed COMPENSATION_FAILED"],
      "ended",
    ],
    compensationRetryDue: [NONE, "compensating"],
    operatorRetry: [NONE, "compensating"],
    operatorSkip: [NONE, "compensating"],
  },
  cancelling: {
    opInFlight: [NONE, "compensating"],
    opIdle: [NONE, "compensating"],
    opSettled: [NONE, "compensating"],
    opSettledUnknown: [NONE, "compensating"],
    workflowReturned: [NONE, "compensating"],
    workflowThrew: [NONE, "compensating"],
    cancelRequested: [NONE, "compensating"],
    deadlinePassed: [NONE, "compensating"],
    limitReached: [NONE, "compensating"],
    continueRequested: [NONE, "compensating"],
    phaseMarker: [NONE, "compensating"],
    replayEnded: [NONE, "compensating"],
    nonDeterminism: [PARK, "parked"],
    compensationSucceeded: [["compensate 1#1"], "compensating"],
    compensationFailed: [
      ["append compensation.failed", "finish failed COMPENSATION_FAILED"],
      "ended",
    ],
    compensationRetryDue: [NONE, "compensating"],
    operatorRetry: [NONE, "compensating"],
    operatorSkip: [NONE, "compensating"],
  },
  retryWait: {
    opInFlight: [NONE, "compensating"],
    opIdle: [NONE, "compensating"],
    opSettled: [NONE, "compensating"],
    opSettledUnknown: [NONE, "compensating"],
    workflowReturned: [NONE, "compensating"],
    workflowThrew: [NONE, "compensating"],
    // Waiting on a failed compensation, a cancel is the operator's "stop here".
    cancelRequested: [["finish failed COMPENSATION_FAILED"], "ended"],
    deadlinePassed: [NONE, "compensating"],
    limitReached: [NONE, "compensating"],
    continueRequested: [NONE, "compensating"],
    phaseMarker: [NONE, "compensating"],
    replayEnded: [NONE, "compensating"],
    nonDeterminism: [PARK, "parked"],
    compensationSucceeded: [NONE, "compensating"],
    compensationFailed: [NONE, "compensating"],
    compensationRetryDue: [["append compensation.resumed", "compensate 2#2"], "compensating"],
    operatorRetry: [["append compensation.resumed", "compensate 2#2"], "compensating"],
    operatorSkip: [["append compensation.skipped", "compensate 1#1"], "compensating"],
  },
  operatorWait: {
    opInFlight: [NONE, "compensating"],
    opIdle: [NONE, "compensating"],
    opSettled: [NONE, "compensating"],
    opSettledUnknown: [NONE, "compensating"],
    workflowReturned: [NONE, "compensating"],
    workflowThrew: [NONE, "compensating"],
    cancelRequested: [["finish failed COMPENSATION_FAILED"], "ended"],
    deadlinePassed: [NONE, "compensating"],
    limitReached: [NONE, "compensating"],
    continueRequested: [NONE, "compensating"],
    phaseMarker: [NONE, "compensating"],
    replayEnded: [NONE, "compensating"],
    nonDeterminism: [PARK, "parked"],
    compensationSucceeded: [NONE, "compensating"],
    compensationFailed: [NONE, "compensating"],
    // Only an operator moves it on.
    compensationRetryDue: [NONE, "compensating"],
    operatorRetry: [["append compensation.resumed", "compensate 2#2"], "compensating"],
    operatorSkip: [["append compensation.skipped", "compensate 1#1"], "compensating"],
  },
  parked: allNone("parked"),
  ended: allNone("ended"),
};

function allNone(phase: string): Record<InputName, [Short[], string]> {
  return Object.fromEntries(Object.keys(INPUTS).map((k) => [k, [NONE, phase]])) as Record<
    InputName,
    [Short[], string]
  >;
}

const ROWS = Object.entries(TABLE).flatMap(([phase, byInput]) =>
  Object.entries(byInput).map(([input, [effects, phaseAfter]]) => ({
    phase: phase as PhaseName,
    input: input as InputName,
    effects,
    phaseAfter,
  })),
);

describe("run core: every input in every phase", () => {
  it("has a row for each of the 9 phases × 18 inputs", () => {
    expect(ROWS).toHaveLength(Object.keys(PHASES).length * Object.keys(INPUTS).length);
  });

  it.each(ROWS)("$phase + $input", ({ phase, input, effects, phaseAfter }) => {
    const core = PHASES[phase]();
    expect(core.handle(INPUTS[input]).map(short)).toEqual(effects);
    expect(core.phase).toBe(phaseAfter);
  });
});

describe("run core: how a rollback ends", () => {
  const succeedAll = (core: RunCore): RunEffect[] => {
    const effects: RunEffect[] = [];
    for (let i = 0; i < 10 && core.phase === "compensating"; i++)
      effects.push(...core.handle({ type: "compensationSucceeded" }));
    return effects;
  };

  it.each([
    {
      name: "failure, all compensated",
      setup: () => after(running(), threw, marker),
      end: "finish compensated OUT_OF_STOCK",
    },
    {
      name: "cancel, all compensated",
      setup: () => after(running(), { type: "cancelRequested", reason: "r" }, marker),
      end: "finish cancelled CANCELLED",
    },
    {
      name: "deadline",
      setup: () => after(running(), { type: "deadlinePassed" }, marker),
      end: "finish compensated DEADLINE_EXCEEDED",
    },
    {
      name: "a skipped compensation",
      setup: () => after(running("skip"), threw, marker, failedComp),
      end: "finish failed PARTIALLY_COMPENSATED",
    },
    {
      name: "an operator's skip",
      setup: () => after(running("event"), threw, marker, failedComp, INPUTS.operatorSkip),
      end: "finish failed PARTIALLY_COMPENSATED",
    },
    {
      name: "an unknown outcome without compensateUnknown",
      setup: () => after(running(), unknownSettled(3), threw, marker),
      end: "finish failed UNKNOWN_OUTCOME",
    },
  ])("$name → $end", ({ setup, end }) => {
    expect(succeedAll(setup()).map(short).at(-1)).toBe(end);
  });

  it.each<{ name: string; input: RunInput; effects: Short[] }>([
    { name: "failure", input: threw, effects: ["stop keep[]", "finish failed OUT_OF_STOCK"] },
    {
      name: "cancel",
      input: { type: "cancelRequested", reason: "r" },
      effects: [
        "append run.cancel_requested",
        "stop keep[]",
        "append run.cancelling",
        "marker",
        "finish cancelled CANCELLED",
      ],
    },
    {
      name: "deadline",
      input: { type: "deadlinePassed" },
      effects: ["append run.deadline_exceeded", "stop keep[]", "finish failed DEADLINE_EXCEEDED"],
    },
  ])("nothing to compensate, $name → its end", ({ input, effects }) => {
    const core = new RunCore();
    expect([input, marker].flatMap((i) => core.handle(i)).map(short)).toEqual(effects);
  });

  it("names the skipped compensation and the unknown command in the run's error", () => {
    const core = after(running("skip"), threw, marker, failedComp);
    const finish = succeedAll(core).at(-1);
    expect(finish).toMatchObject({
      error: { details: { skipped: [{ seq: 2, name: "svc.op2", error: boom }] } },
    });
    const unknown = after(running(), unknownSettled(3), threw, marker);
    expect(succeedAll(unknown).at(-1)).toMatchObject({
      error: { details: { unknown: [{ seq: 3, kind: "call", name: "svc.op3" }] } },
    });
  });

  it("backs off a retried compensation, capped", () => {
    const core = after(running("retry"), threw, marker);
    const first = core.handle({ ...failedComp, now: 0, random: 0.5 });
    expect(first.map(short)).toEqual(["append compensation.failed", "arm 2@1000"]);
    core.handle({ type: "compensationRetryDue" });
    expect(core.handle({ ...failedComp, now: 0, random: 0.5 }).map(short)).toContain("arm 2@2000");
    for (let i = 0; i < 10; i++) {
      core.handle({ type: "compensationRetryDue" });
      core.handle({ ...failedComp, now: 0, random: 1 });
    }
    expect(core.state.current?.retryAt).toBe(60_000);
  });
});

describe("run core: replay takes the journal's decisions", () => {
  const recorded = (over: Partial<RecordedRollback>): RecordedRollback => ({
    ...NOTHING_RECORDED,
    ...over,
  });
  const decision = (policy: CompensationFailurePolicy, retryAt?: number) =>
    new Map([
      [
        "2:1",
        { seq: 2, attempt: 1, decision: policy, error: boom, ...(retryAt ? { retryAt } : {}) },
      ],
    ]);

  function replaying(
    rec: RecordedRollback,
    policy: CompensationFailurePolicy = "terminate",
  ): RunCore {
    const core = new RunCore(rec, true);
    core.handle(settled(1));
    core.handle(settled(2, policy));
    return core;
  }

  it.each([
    {
      name: "a failure waits for the journal's phase marker, appends nothing",
      core: () => replaying(NOTHING_RECORDED),
      inputs: [threw, settled(3), { type: "phaseMarker" }] as RunInput[],
      effects: ["stop keep[]", "compensate 3#1"],
    },
    {
      name: "a cancel replayed where it happened appends nothing",
      core: () => replaying(NOTHING_RECORDED),
      inputs: [{ type: "cancelRequested", reason: "r" }, { type: "phaseMarker" }] as RunInput[],
      effects: ["stop keep[]", "compensate 2#1"],
    },
    {
      name: "a recorded skip wins over the code's policy",
      core: () => replaying(recorded({ decisions: decision("skip") })),
      inputs: [threw, { type: "phaseMarker" }, failedComp] as RunInput[],
      effects: ["stop keep[]", "compensate 2#1", "compensate 1#1"],
    },
    {
      name: "a recorded retry that was resumed runs the next attempt at once",
      core: () =>
        replaying(recorded({ decisions: decision("retry", 5_000), resumed: new Set(["2:2"]) })),
      inputs: [threw, { type: "phaseMarker" }, failedComp] as RunInput[],
      effects: ["stop keep[]", "compensate 2#1", "compensate 2#2"],
    },
    {
      name: "a recorded retry still waiting re-arms its timer once replay ends",
      core: () => replaying(recorded({ decisions: decision("retry", 5_000) })),
      inputs: [threw, { type: "phaseMarker" }, failedComp, { type: "replayEnded" }] as RunInput[],
      effects: ["stop keep[]", "compensate 2#1", "arm 2@5000"],
    },
    {
      name: "a recorded operator skip goes on with the next compensation",
      core: () =>
        replaying(recorded({ decisions: decision("event"), operatorSkips: new Set([2]) })),
      inputs: [threw, { type: "phaseMarker" }, failedComp] as RunInput[],
      effects: ["stop keep[]", "compensate 2#1", "compensate 1#1"],
    },
    {
      name: "a replay that ends while settling decides live",
      core: () => replaying(NOTHING_RECORDED),
      inputs: [
        threw,
        { type: "opInFlight", seq: 3 },
        { type: "replayEnded" },
        { type: "opIdle", seq: 3 },
      ] as RunInput[],
      effects: ["stop keep[]", "append run.compensating", "marker"],
    },
    {
      name: "a live phase marker never skips the settling",
      core: () => after(running(), { type: "opInFlight", seq: 3 }, threw),
      inputs: [{ type: "phaseMarker" }] as RunInput[],
      effects: [],
    },
  ])("$name", ({ core, inputs, effects }) => {
    const c = core();
    expect(inputs.flatMap((input) => c.handle(input)).map(short)).toEqual(effects);
  });
});

describe("run core: settling, then compensating", () => {
  it("waits for what is in flight, compensates what completed meanwhile first", () => {
    const core = after(running(), { type: "opInFlight", seq: 3 }, { type: "opInFlight", seq: 4 });
    const effects = [
      threw,
      settled(3),
      { type: "opSettled", seq: 4, kind: "call", name: "svc.op4", outcome: "withdrawn" },
      marker,
      { type: "compensationSucceeded" },
      { type: "compensationSucceeded" },
      { type: "compensationSucceeded" },
    ].flatMap((input) => core.handle(input as RunInput));
    expect(effects.map(short)).toEqual([
      "stop keep[3,4]",
      "append run.compensating",
      "marker",
      "compensate 3#1",
      "compensate 2#1",
      "compensate 1#1",
      "finish compensated OUT_OF_STOCK",
    ]);
  });
});
