import { EventType, findNonJson, type OpKind } from "../common/index.js";
import type { EventRecord, JournalEntry } from "../store/index.js";
import type { Phase } from "./core/run-core.js";
import { isValueOverLimit } from "./core/limits.js";
import { Entry } from "./journal.js";

/** What ctx.continueAsNew is judged on. */
export interface ContinueRequest {
  runId: string;
  /** Operations' completions replay has yet to hand back (run-level facts not counted). */
  replayRemainingOps: number;
  phase: Phase;
  /** Cancelled, past its deadline or limit, ended: the workflow is being stopped already. */
  stopping: boolean;
  /** Called by a compensation (the run rolls back). */
  compensating: boolean;
  /** Operations of the workflow not settled yet. */
  unsettled: ReadonlyArray<{ seq: number; kind: OpKind; name: string }>;
  input: unknown;
  maxInputBytes: number;
}

/**
 * Whether ctx.continueAsNew may end this generation. `undefined`: yes. `"ignore"`: the run is
 * stopping anyway; the call never returns and changes nothing (like any operation then).
 * Otherwise the refusal: NON_DETERMINISM parks the run (its journal has more than the code did),
 * any other code rejects the call so the workflow sees it.
 */
export function refuseContinue(
  request: ContinueRequest,
): { code: string; message: string } | "ignore" | undefined {
  const { runId } = request;
  if (request.replayRemainingOps > 0)
    return {
      code: "NON_DETERMINISM",
      message: `run ${runId}: the code called continueAsNew, but the journal has more`,
    };
  if (request.compensating || request.phase === "compensating" || request.phase === "settling")
    return {
      code: "CONTINUE_AS_NEW_REFUSED",
      message: `run ${runId}: continueAsNew is refused while the run rolls back (a compensation cannot start a new generation)`,
    };
  if (request.stopping) return "ignore";
  // Waits (timers, signals) are simply dropped; a command that may take effect is not.
  const busy = request.unsettled.filter(
    (op) => op.kind === "step" || op.kind === "call" || op.kind === "child",
  );
  if (busy.length > 0) {
    const names = busy.map((op) => `${op.kind} ${op.name} (seq ${op.seq})`).join(", ");
    return {
      code: "CONTINUE_AS_NEW_REFUSED",
      message: `run ${runId}: continueAsNew is refused while ${names} is in flight; it cannot be called inside a step, and every step, call and child must be awaited first`,
    };
  }
  const problem = findNonJson(request.input, "input");
  if (problem && request.input !== undefined)
    return {
      code: "INPUT_NOT_JSON",
      message: `run ${runId}: continueAsNew input is not JSON: ${problem}`,
    };
  if (isValueOverLimit(request.input, request.maxInputBytes))
    return {
      code: "INPUT_TOO_LARGE",
      message: `run ${runId}: continueAsNew input is larger than the limit of ${request.maxInputBytes} bytes of JSON`,
    };
  return undefined;
}

/** The part of the journal writer a generation's start uses. */
export interface GenerationWriter {
  continueAsNew(next: { input: string | null; firstEntry: JournalEntry }): void;
  addEvent(event: EventRecord): void;
}

/**
 * Hands the writer the next generation: its first journal entry (run.started, carrying on the
 * run's deadline, trace and seq numbering) and the `run.continued` event, committed with the
 * last entries of this generation in one transaction.
 */
export function startNextGeneration(
  run: { runId: string; workflow: string },
  writer: GenerationWriter,
  next: {
    input: unknown;
    firstSeq: number;
    deadlineAt: number | undefined;
    traceparent: string | undefined;
    generation: number;
    /** The run's workflow version: a run keeps its version across generations. */
    version: number;
    now: number;
  },
): void {
  const firstEntry: JournalEntry = {
    // Set by the writer: the position after this generation's last entry.
    position: 0,
    seq: null,
    type: Entry.RunStarted,
    name: null,
    data: JSON.stringify({
      version: next.version,
      generation: next.generation,
      firstSeq: next.firstSeq,
      ...(next.deadlineAt === undefined ? {} : { deadlineAt: next.deadlineAt }),
      ...(next.traceparent === undefined ? {} : { traceparent: next.traceparent }),
    }),
    at: next.now,
  };
  writer.addEvent({
    type: EventType.RunContinued,
    runId: run.runId,
    workflow: run.workflow,
    status: "running",
    data: JSON.stringify({ generation: next.generation }),
    at: next.now,
  });
  writer.continueAsNew({
    input: next.input === undefined ? null : JSON.stringify(next.input),
    firstEntry,
  });
}
