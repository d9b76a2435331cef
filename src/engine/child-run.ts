import { RunStatus, decodeJson } from "../common/index.js";
import type { NewRun, RunRecord } from "../store/index.js";
import { Entry } from "./journal.js";
import type { Op } from "./op.js";
import type { RunPort } from "./run-port.js";

/** Builds a child's row; its id defaults to `{parentRunId}:{seq}`. */
export function newChildRun(
  parent: RunPort,
  seq: number,
  childRunId: string,
  workflow: string,
  version: number,
  input: unknown,
): NewRun {
  const host = parent.hostRef;
  const now = host.clock.now();
  return {
    runId: childRunId,
    workflow,
    input: input === undefined ? null : JSON.stringify(input),
    createdAt: now,
    parentRunId: parent.runId,
    parentSeq: seq,
    owner: host.nodeId,
    version,
    firstEntry: {
      position: 0,
      seq: null,
      type: Entry.RunStarted,
      name: null,
      // The child's spans join its parent's trace: a tree of runs is one trace.
      data: JSON.stringify({
        parentRunId: parent.runId,
        parentSeq: seq,
        traceparent: parent.trace.traceparent,
        version,
      }),
      at: now,
    },
  };
}

/** Completes the parent's child operation from the child's end; nothing while the child runs. */
export function completeChild(parent: RunPort, op: Op, child: RunRecord): void {
  if (op.settled || op.abandoned) return;
  if (child.status === RunStatus.Completed) {
    parent.complete(op, "completed", { output: decodeJson(child.output) });
  } else if (
    child.status === RunStatus.Failed ||
    child.status === RunStatus.Compensated ||
    child.status === RunStatus.Cancelled
  ) {
    const error = child.error ?? { code: "RUN_FAILED", message: "failed" };
    parent.complete(op, "failed", {
      error: {
        code: error.code,
        message: `child run ${child.runId} ended ${child.status}: ${error.message}`,
        details: { childRunId: child.runId, status: child.status },
      },
    });
  }
}
