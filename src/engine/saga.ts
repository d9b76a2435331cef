import { RunStatus, toBatonError, type ErrorData, type OpKind } from "../common/index.js";
import { describeOp } from "./journal.js";
import type { Op } from "./op.js";
import type { RunExecution } from "./run-execution.js";

interface Compensation {
  seq: number;
  kind: OpKind;
  name: string;
  output: unknown;
  fn: (output: unknown) => Promise<unknown>;
}

/**
 * A run's compensations: registered as its steps and calls complete while it runs, run in
 * reverse order once it fails or is cancelled. They are workflow code like any other: their
 * operations are journaled (marked `compensates`) and replay the same way.
 */
export class Saga {
  private readonly compensations: Compensation[] = [];
  /** The seq whose compensation is running; operations it starts are marked with it. */
  current: number | undefined;

  get isEmpty(): boolean {
    return this.compensations.length === 0;
  }

  add(op: Op, fn: (output: unknown) => Promise<unknown>, output: unknown): void {
    this.compensations.push({ seq: op.seq, kind: op.kind, name: op.name, output, fn });
  }

  /**
   * Runs every compensation, newest first, then ends the run: compensated or cancelled, or
   * failed if a compensation failed for good (the rest are not run).
   */
  async compensate(
    run: RunExecution,
    phase: "compensating" | "cancelling",
    data: { error?: ErrorData; reason?: string },
  ): Promise<void> {
    const original: ErrorData =
      phase === "cancelling"
        ? { code: "CANCELLED", message: data.reason ?? "cancelled" }
        : (data.error ?? { code: "STEP_FAILED", message: "the workflow failed" });
    for (const compensation of [...this.compensations].reverse()) {
      this.current = compensation.seq;
      if (!run.replaying) run.hostRef.fault("during-compensation", run.runId);
      try {
        await compensation.fn(compensation.output);
      } catch (e) {
        if (run.halted || run.terminal) return;
        const cause = toBatonError(e);
        const what = `${describeOp(compensation.kind, compensation.name)} (seq ${compensation.seq})`;
        run.finish(
          {
            status: RunStatus.Failed,
            error: {
              code: "COMPENSATION_FAILED",
              message: `compensation of ${what} failed for good: ${cause.message}`,
              details: { compensates: compensation.seq, cause: cause.toJSON(), original },
            },
          },
          run.errors.seqOf(e),
        );
        return;
      }
    }
    this.current = undefined;
    if (run.halted || run.terminal) return;
    run.finish(
      {
        status: phase === "cancelling" ? RunStatus.Cancelled : RunStatus.Compensated,
        error: original,
      },
      undefined,
    );
  }
}
