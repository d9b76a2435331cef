import type { ErrorData, OpKind, RunStatus } from "../../common/index.js";

/** What a rollback does when a compensation fails for good. */
export const CompensationFailurePolicy = {
  Terminate: "terminate",
  Retry: "retry",
  Skip: "skip",
  Event: "event",
} as const;
export type CompensationFailurePolicy =
  (typeof CompensationFailurePolicy)[keyof typeof CompensationFailurePolicy];

/**
 * The rules of one run's life, as a state machine: inputs in, effects out. No I/O, no clock, no
 * randomness but what an input carries. The driver (run-execution.ts) feeds it what happened
 * and carries out what it returns; replay feeds it the same inputs from the journal, and where
 * the journal already holds a decision (a run-level entry) the core takes that decision instead
 * of making it again, so a run replays the way it ran.
 *
 * Phases: `running` → (a failure, a cancel, the deadline) → `settling`: commands that may still
 * take effect are settled first (queued tasks withdrawn, leased tasks, calls in flight and child
 * runs awaited) → `compensating`: completed steps are compensated newest first, each failure of
 * a compensation handled by its policy → `ended`. `parked`: the code no longer matches the
 * journal; nothing more runs.
 */
export type Phase = "running" | "settling" | "compensating" | "parked" | "ended";

export type StopReason =
  | { kind: "failure"; error: ErrorData; causeSeq?: number }
  | { kind: "cancel"; reason: string }
  | { kind: "deadline"; error: ErrorData }
  /** A limit of the run was reached (HISTORY_TOO_LARGE): a fact from outside, like the deadline. */
  | { kind: "limit"; error: ErrorData };

/** A completed (or unknown-outcome) operation whose compensation is registered. */
export interface Compensable {
  seq: number;
  kind: OpKind;
  name: string;
  output: unknown;
  /** Its outcome stayed unknown; compensated because it asked to be (`compensateUnknown`). */
  unknownOutcome: boolean;
  policy: CompensationFailurePolicy;
}

/** The compensation being run, and how its failures went. */
export interface CompensationProgress {
  seq: number;
  attempt: number;
  state: "running" | "retry_wait" | "operator_wait";
  lastError?: ErrorData;
  retryAt?: number;
}

/** A decision about a failed compensation, as the journal keeps it (`compensation.failed`). */
export interface CompensationDecision {
  seq: number;
  attempt: number;
  decision: CompensationFailurePolicy;
  error: ErrorData;
  retryAt?: number;
}

/** What a run's journal already decided about its rollback; empty for a new run. */
export interface RecordedRollback {
  /** Decisions about failed compensations, by `seq:attempt`. */
  decisions: ReadonlyMap<string, CompensationDecision>;
  /** Compensation attempts that were started again (after a retry wait or an operator), by `seq:attempt`. */
  resumed: ReadonlySet<string>;
  /** Compensations skipped by an operator, by seq. */
  operatorSkips: ReadonlySet<number>;
}

export const NOTHING_RECORDED: RecordedRollback = {
  decisions: new Map(),
  resumed: new Set(),
  operatorSkips: new Set(),
};

export type RunInput =
  /** An operation's command left, or may have: it must settle before any rollback. */
  | { type: "opInFlight"; seq: number }
  /** An attempt ended and the operation waits for its next one: nothing of it is in flight. */
  | { type: "opIdle"; seq: number }
  /**
   * An in-flight or waiting operation settled. `unknown`: no answer, its effect may or may not
   * have happened. `withdrawn`: it never left. `compensation` is set when the operation
   * registered one (and for `unknown` only with `compensateUnknown`).
   */
  | {
      type: "opSettled";
      seq: number;
      kind: OpKind;
      name: string;
      outcome: "completed" | "failed" | "unknown" | "withdrawn";
      compensation?: { output: unknown; policy: CompensationFailurePolicy };
      /** The operation had a compensation but its outcome is unknown and it may not compensate. */
      unknownWithoutCompensation?: boolean;
    }
  | { type: "workflowReturned"; output: unknown }
  | { type: "workflowThrew"; error: ErrorData; causeSeq?: number }
  | { type: "cancelRequested"; reason: string }
  | { type: "deadlinePassed" }
  /** The run's journal reached its limit (core/limits.ts decides when). */
  | { type: "limitReached"; error: ErrorData }
  /**
   * The workflow called ctx.continueAsNew and the driver found nothing in flight: this generation
   * ends and the next starts, in one commit.
   */
  | { type: "continueRequested" }
  /**
   * The rollback's phase marker (run.compensating / run.cancelling) reached the run: on replay
   * from the journal; live, delivered after the workflow reacted to everything before it, so
   * that compensations start at the same point both ways.
   */
  | { type: "phaseMarker" }
  /** Replay is over: from here on the core decides live. */
  | { type: "replayEnded" }
  | { type: "nonDeterminism"; error: ErrorData }
  | { type: "compensationSucceeded" }
  /** `now` and `random` serve the retry backoff of policy `retry`. */
  | { type: "compensationFailed"; error: ErrorData; causeSeq?: number; now: number; random: number }
  | { type: "compensationRetryDue" }
  | { type: "operatorAction"; action: "retry" | "skip"; seq: number };

export type RunEffect =
  /** A run-level journal entry (seq-less). */
  | { type: "append"; entry: string; data: Record<string, unknown> }
  /**
   * Stop waiting on what no longer matters: timers, signal waits, retry waits. Operations in
   * `keep` (in flight) stay; queued tasks are withdrawn and child runs cancelled by the driver.
   */
  | { type: "stopWorkflow"; keep: readonly number[] }
  /** Deliver a phase marker in turn, after what is already queued for the workflow. */
  | { type: "deliverMarker" }
  | { type: "startCompensation"; seq: number; attempt: number }
  | { type: "armCompensationRetry"; seq: number; at: number }
  | { type: "publishCompensationFailed"; seq: number; attempt: number; error: ErrorData }
  | {
      type: "finish";
      status: RunStatus;
      output?: unknown;
      error?: ErrorData;
      causeSeq?: number;
    }
  /** Non-determinism: drop what this session appended and did not commit. */
  | { type: "discardUncommitted" }
  /** End this generation and start the next (the driver commits both at once). */
  | { type: "continueAsNew" };

export interface RunCoreState {
  readonly phase: Phase;
  readonly replaying: boolean;
  readonly stop: StopReason | undefined;
  /** Operations whose commands may still take effect. */
  readonly inFlight: ReadonlySet<number>;
  /** Registered compensations, in completion order. */
  readonly saga: readonly Compensable[];
  /** Commands with a compensation whose outcome stayed unknown, not compensated. */
  readonly unknown: ReadonlyArray<{ seq: number; kind: OpKind; name: string }>;
  readonly current: CompensationProgress | undefined;
  readonly skipped: ReadonlyArray<{ seq: number; name: string; error: ErrorData }>;
}

/** Retry waits between attempts of a compensation under policy `retry`. */
export const COMPENSATION_RETRY = { initialMs: 1_000, coefficient: 2, maxMs: 60_000 } as const;

export function compensationRetryDelay(attempt: number, random: number): number {
  const base = COMPENSATION_RETRY.initialMs * Math.pow(COMPENSATION_RETRY.coefficient, attempt - 1);
  return Math.round(Math.min(COMPENSATION_RETRY.maxMs, base * (0.8 + 0.4 * random)));
}

const key = (seq: number, attempt: number): string => `${seq}:${attempt}`;

/** Most inputs change nothing outside the core: one shared answer, no garbage on the hot path. */
const NO_EFFECTS: readonly RunEffect[] = Object.freeze([]);

export class RunCore {
  private phaseValue: Phase = "running";
  private replayingValue: boolean;
  private stopValue: StopReason | undefined;
  private readonly inFlightSet = new Set<number>();
  private readonly sagaList: Compensable[] = [];
  /** Rare: made on first use, so most runs carry two arrays fewer. */
  private unknownList: Array<{ seq: number; kind: OpKind; name: string }> | undefined;
  private skippedList: Array<{ seq: number; name: string; error: ErrorData }> | undefined;
  /** Index in `sagaList` of the compensation running or next; counts down. */
  private cursor = -1;
  private currentValue: CompensationProgress | undefined;
  /** Replay reached a stop whose phase marker is in the journal: wait for it, not for settling. */
  private awaitingMarker = false;

  constructor(
    private readonly recorded: RecordedRollback = NOTHING_RECORDED,
    replaying = false,
  ) {
    this.replayingValue = replaying;
  }

  get state(): RunCoreState {
    return {
      phase: this.phaseValue,
      replaying: this.replayingValue,
      stop: this.stopValue,
      inFlight: this.inFlightSet,
      saga: this.sagaList,
      unknown: this.unknownList ?? [],
      current: this.currentValue,
      skipped: this.skippedList ?? [],
    };
  }

  get phase(): Phase {
    return this.phaseValue;
  }

  /** The compensation being run or waited on (read on every snapshot: no copy). */
  get current(): Readonly<CompensationProgress> | undefined {
    return this.currentValue;
  }

  /** The workflow must start no new command: it is stopping, rolling back, or over. */
  get isStopping(): boolean {
    return this.phaseValue !== "running" || this.stopValue !== undefined;
  }

  handle(input: RunInput): readonly RunEffect[] {
    if (this.phaseValue === "ended" || this.phaseValue === "parked") return NO_EFFECTS;
    switch (input.type) {
      case "opInFlight":
        this.opInFlight(input.seq);
        return NO_EFFECTS;
      case "opIdle":
        return this.opIdle(input.seq);
      case "opSettled":
        return this.onOpSettled(input);
      case "workflowReturned":
        if (this.phaseValue !== "running" || this.stopValue) return [];
        return this.end({ type: "finish", status: "completed", output: input.output });
      case "workflowThrew":
        return this.requestStop({
          kind: "failure",
          error: input.error,
          ...(input.causeSeq === undefined ? {} : { causeSeq: input.causeSeq }),
        });
      case "cancelRequested":
        return this.phaseValue === "compensating"
          ? this.terminateWaitingCompensation(input.reason)
          : this.requestStop({ kind: "cancel", reason: input.reason });
      case "deadlinePassed":
        return this.requestStop({
          kind: "deadline",
          error: { code: "DEADLINE_EXCEEDED", message: "the run's deadline passed" },
        });
      case "limitReached":
        return this.requestStop({ kind: "limit", error: input.error });
      case "continueRequested":
        // Only a running workflow continues; one that is stopping goes on stopping.
        if (this.phaseValue !== "running" || this.stopValue) return NO_EFFECTS;
        this.phaseValue = "ended";
        return [{ type: "continueAsNew" }];
      case "phaseMarker":
        if (this.phaseValue !== "settling" || !this.awaitingMarker) return [];
        this.awaitingMarker = false;
        return this.beginCompensating();
      case "replayEnded":
        if (!this.replayingValue) return [];
        this.replayingValue = false;
        // Stopped on replay, and the journal has no marker yet: settle and decide live.
        if (this.phaseValue === "settling") {
          this.awaitingMarker = false;
          return this.settleIfDone();
        }
        return this.resumeWaits();
      case "nonDeterminism":
        this.phaseValue = "parked";
        return [
          { type: "discardUncommitted" },
          { type: "finish", status: "failed", error: input.error },
        ];
      case "compensationSucceeded":
        if (this.phaseValue !== "compensating" || this.currentValue?.state !== "running") return [];
        return this.nextCompensation();
      case "compensationFailed":
        return this.onCompensationFailed(input);
      case "compensationRetryDue": {
        const current = this.currentValue;
        if (this.phaseValue !== "compensating" || current?.state !== "retry_wait") return [];
        return this.resumeCompensation(current, "retry");
      }
      case "operatorAction":
        return this.onOperatorAction(input.action, input.seq);
    }
  }

  /** `handle({ type: "opInFlight", seq })`, for the driver's hot path. */
  opInFlight(seq: number): void {
    if (this.phaseValue !== "ended" && this.phaseValue !== "parked") this.inFlightSet.add(seq);
  }

  /** `handle({ type: "opIdle", seq })`, for the driver's hot path. */
  opIdle(seq: number): readonly RunEffect[] {
    if (this.phaseValue === "ended" || this.phaseValue === "parked") return NO_EFFECTS;
    this.inFlightSet.delete(seq);
    return this.phaseValue === "settling" ? this.settleIfDone() : NO_EFFECTS;
  }

  // ─── Stopping and settling ───────────────────────────────────────────────────────────

  private requestStop(reason: StopReason): RunEffect[] {
    if (this.phaseValue !== "running" || this.stopValue) return [];
    this.stopValue = reason;
    this.phaseValue = "settling";
    const effects: RunEffect[] = [];
    // A cancel and a deadline are facts from outside: journaled where they happened, so replay
    // stops the workflow at the same point. A failure is the workflow's own and replays by itself.
    if (!this.replayingValue) {
      if (reason.kind === "cancel")
        effects.push({
          type: "append",
          entry: "run.cancel_requested",
          data: { reason: reason.reason },
        });
      if (reason.kind === "deadline")
        effects.push({ type: "append", entry: "run.deadline_exceeded", data: {} });
      if (reason.kind === "limit")
        effects.push({ type: "append", entry: "run.limit_reached", data: { error: reason.error } });
    }
    effects.push({ type: "stopWorkflow", keep: [...this.inFlightSet] });
    if (this.replayingValue) {
      this.awaitingMarker = true;
      return effects;
    }
    return [...effects, ...this.settleIfDone()];
  }

  private onOpSettled(input: Extract<RunInput, { type: "opSettled" }>): readonly RunEffect[] {
    this.inFlightSet.delete(input.seq);
    // Compensable results count until the rollback starts: a command that completes while the
    // run settles is compensated like any other.
    if (this.phaseValue === "running" || this.phaseValue === "settling") {
      if (input.compensation) {
        this.sagaList.push({
          seq: input.seq,
          kind: input.kind,
          name: input.name,
          output: input.compensation.output,
          unknownOutcome: input.outcome === "unknown",
          policy: input.compensation.policy,
        });
      } else if (input.unknownWithoutCompensation) {
        (this.unknownList ??= []).push({ seq: input.seq, kind: input.kind, name: input.name });
      }
    }
    return this.phaseValue === "settling" ? this.settleIfDone() : NO_EFFECTS;
  }

  /** Live, once nothing is in flight: journal the rollback's start and deliver its marker. */
  private settleIfDone(): RunEffect[] {
    if (this.phaseValue !== "settling" || this.replayingValue || this.awaitingMarker) return [];
    if (this.inFlightSet.size > 0) return [];
    const stop = this.stopValue!;
    if (this.sagaList.length === 0 && stop.kind !== "cancel") {
      // Nothing to undo: the failure is the end (unknown outcomes aside).
      return this.end(this.outcome());
    }
    this.awaitingMarker = true;
    return [
      stop.kind === "cancel"
        ? { type: "append", entry: "run.cancelling", data: { reason: stop.reason } }
        : {
            type: "append",
            entry: "run.compensating",
            data: {
              error: stop.error,
              ...(stop.kind === "failure" && stop.causeSeq !== undefined
                ? { causeSeq: stop.causeSeq }
                : {}),
            },
          },
      { type: "deliverMarker" },
    ];
  }

  private beginCompensating(): RunEffect[] {
    this.phaseValue = "compensating";
    this.cursor = this.sagaList.length;
    return this.nextCompensation();
  }

  // ─── Compensating ────────────────────────────────────────────────────────────────────

  private nextCompensation(): RunEffect[] {
    this.cursor--;
    const next = this.sagaList[this.cursor];
    if (!next) {
      this.currentValue = undefined;
      return this.end(this.outcome());
    }
    this.currentValue = { seq: next.seq, attempt: 1, state: "running" };
    return [{ type: "startCompensation", seq: next.seq, attempt: 1 }];
  }

  private onCompensationFailed(
    input: Extract<RunInput, { type: "compensationFailed" }>,
  ): RunEffect[] {
    const current = this.currentValue;
    if (this.phaseValue !== "compensating" || current?.state !== "running") return [];
    const compensable = this.sagaList[this.cursor]!;
    const recorded = this.recorded.decisions.get(key(current.seq, current.attempt));
    const decision = recorded?.decision ?? compensable.policy;
    current.lastError = input.error;
    const effects: RunEffect[] = [];
    const record = (data: Record<string, unknown>): void => {
      if (!recorded && !this.replayingValue)
        effects.push({
          type: "append",
          entry: "compensation.failed",
          data: {
            seq: current.seq,
            attempt: current.attempt,
            name: compensable.name,
            decision,
            error: input.error,
            ...data,
          },
        });
    };
    switch (decision) {
      case "terminate":
        record({});
        return [
          ...effects,
          ...this.end({
            type: "finish",
            status: "failed",
            error: {
              code: "COMPENSATION_FAILED",
              message: `compensation of ${describe(compensable)} failed for good: ${input.error.message}`,
              details: {
                compensates: current.seq,
                cause: input.error,
                original: this.originalError(),
              },
            },
            ...(input.causeSeq === undefined ? {} : { causeSeq: input.causeSeq }),
          }),
        ];
      case "skip":
        if (!recorded && !this.replayingValue)
          effects.push({
            type: "append",
            entry: "compensation.skipped",
            data: {
              seq: current.seq,
              attempt: current.attempt,
              name: compensable.name,
              error: input.error,
              by: "policy",
            },
          });
        (this.skippedList ??= []).push({
          seq: current.seq,
          name: compensable.name,
          error: input.error,
        });
        return [...effects, ...this.nextCompensation()];
      case "retry": {
        const retryAt =
          recorded?.retryAt ?? input.now + compensationRetryDelay(current.attempt, input.random);
        record({ retryAt });
        current.state = "retry_wait";
        current.retryAt = retryAt;
        if (this.recorded.resumed.has(key(current.seq, current.attempt + 1)))
          return [...effects, ...this.resumeCompensation(current, "retry")];
        if (this.recorded.operatorSkips.has(current.seq))
          return [...effects, ...this.skipCurrent(current, compensable)];
        // On replay the timer is armed once replay is over (resumeWaits): its firing is live.
        if (this.replayingValue) return effects;
        return [...effects, { type: "armCompensationRetry", seq: current.seq, at: retryAt }];
      }
      case "event":
        record({});
        current.state = "operator_wait";
        if (!recorded && !this.replayingValue)
          effects.push({
            type: "publishCompensationFailed",
            seq: current.seq,
            attempt: current.attempt,
            error: input.error,
          });
        if (this.recorded.resumed.has(key(current.seq, current.attempt + 1)))
          return [...effects, ...this.resumeCompensation(current, "operator")];
        if (this.recorded.operatorSkips.has(current.seq))
          return [...effects, ...this.skipCurrent(current, compensable)];
        return effects;
    }
  }

  private resumeCompensation(current: CompensationProgress, by: "retry" | "operator"): RunEffect[] {
    const attempt = current.attempt + 1;
    const effects: RunEffect[] = [];
    if (!this.recorded.resumed.has(key(current.seq, attempt)) && !this.replayingValue)
      effects.push({
        type: "append",
        entry: "compensation.resumed",
        data: { seq: current.seq, attempt, by },
      });
    this.currentValue = { seq: current.seq, attempt, state: "running" };
    return [...effects, { type: "startCompensation", seq: current.seq, attempt }];
  }

  private skipCurrent(current: CompensationProgress, compensable: Compensable): RunEffect[] {
    const effects: RunEffect[] = [];
    if (!this.recorded.operatorSkips.has(current.seq) && !this.replayingValue)
      effects.push({
        type: "append",
        entry: "compensation.skipped",
        data: { seq: current.seq, by: "operator" },
      });
    (this.skippedList ??= []).push({
      seq: current.seq,
      name: compensable.name,
      error: current.lastError ?? {
        code: "COMPENSATION_FAILED",
        message: "skipped by an operator",
      },
    });
    return [...effects, ...this.nextCompensation()];
  }

  private onOperatorAction(action: "retry" | "skip", seq: number): RunEffect[] {
    const current = this.currentValue;
    if (
      this.phaseValue !== "compensating" ||
      !current ||
      current.seq !== seq ||
      (current.state !== "operator_wait" && current.state !== "retry_wait")
    )
      return [];
    const compensable = this.sagaList[this.cursor]!;
    return action === "retry"
      ? this.resumeCompensation(current, "operator")
      : this.skipCurrent(current, compensable);
  }

  /**
   * A cancel while rolling back: the rollback goes on, unless it waits on a failed compensation
   * (for an operator or its next attempt) — then the cancel is the operator's "stop here".
   */
  private terminateWaitingCompensation(reason: string): RunEffect[] {
    const current = this.currentValue;
    if (!current || current.state === "running") return [];
    const compensable = this.sagaList[this.cursor]!;
    const error = current.lastError ?? { code: "COMPENSATION_FAILED", message: "failed" };
    return this.end({
      type: "finish",
      status: "failed",
      error: {
        code: "COMPENSATION_FAILED",
        message: `compensation of ${describe(compensable)} failed for good (${error.message}); rollback stopped: ${reason}`,
        details: { compensates: current.seq, cause: error, original: this.originalError() },
      },
    });
  }

  /** After the rollback (or with nothing to roll back): how the run ends. */
  private outcome(): Extract<RunEffect, { type: "finish" }> {
    const stop = this.stopValue!;
    const original = this.originalError();
    const causeSeq = stop.kind === "failure" ? stop.causeSeq : undefined;
    const withCause = causeSeq === undefined ? {} : { causeSeq };
    const unknown = this.unknownList;
    if (unknown && unknown.length > 0) {
      const names = unknown.map((u) => `${u.kind} ${u.name} (seq ${u.seq})`).join(", ");
      return {
        type: "finish",
        status: "failed",
        error: {
          code: "UNKNOWN_OUTCOME",
          message: `the outcome of ${names} is unknown and it may have taken effect; it was not compensated (give its compensation compensateUnknown: true to undo it anyway)`,
          details: { unknown: unknown.map((u) => ({ ...u })), original },
        },
        ...withCause,
      };
    }
    const skipped = this.skippedList;
    if (skipped && skipped.length > 0) {
      const names = skipped.map((s) => `${s.name} (seq ${s.seq})`).join(", ");
      return {
        type: "finish",
        status: "failed",
        error: {
          code: "PARTIALLY_COMPENSATED",
          message: `rolled back except ${names}, whose compensation failed and was skipped`,
          details: { skipped: skipped.map((s) => ({ ...s })), original },
        },
        ...withCause,
      };
    }
    if (stop.kind === "cancel") return { type: "finish", status: "cancelled", error: original };
    if (this.sagaList.length === 0)
      return { type: "finish", status: "failed", error: original, ...withCause };
    return { type: "finish", status: "compensated", error: original };
  }

  private originalError(): ErrorData {
    const stop = this.stopValue!;
    return stop.kind === "cancel" ? { code: "CANCELLED", message: stop.reason } : stop.error;
  }

  private end(finish: Extract<RunEffect, { type: "finish" }>): RunEffect[] {
    this.phaseValue = "ended";
    this.currentValue = undefined;
    return [finish];
  }

  /** Live again after a replay that ended mid-rollback: re-arm what the journal says it waits on. */
  private resumeWaits(): RunEffect[] {
    const current = this.currentValue;
    if (
      this.phaseValue === "compensating" &&
      current?.state === "retry_wait" &&
      current.retryAt !== undefined
    )
      return [{ type: "armCompensationRetry", seq: current.seq, at: current.retryAt }];
    return [];
  }
}

function describe(c: { kind: OpKind; name: string; seq: number }): string {
  return `${c.kind} ${c.name} (seq ${c.seq})`;
}
