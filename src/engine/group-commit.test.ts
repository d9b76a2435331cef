import { describe, expect, it } from "vitest";
import { RunStatus, type BatonError } from "../common/index.js";
import type { Store, WriteOp, WriteResult } from "../store/index.js";
import { GroupCommitter, type Writer } from "./group-commit.js";

function append(runId: string, wakeRuns?: string[]): WriteOp {
  return {
    type: "appendRun",
    runId,
    epoch: 0,
    expectedLength: 1,
    entries: [],
    update: { status: RunStatus.Waiting, updatedAt: 0, wakeAt: null, waitingOn: null },
    ...(wakeRuns ? { wakeRuns } : {}),
  };
}

class FakeWriter implements Writer {
  results: WriteResult[] = [];
  failures: BatonError[] = [];
  constructor(private readonly op: WriteOp) {}
  takeWrite(): WriteOp | undefined {
    return this.op;
  }
  onCommitted(result: WriteResult): void {
    this.results.push(result);
  }
  onCommitFailed(error: BatonError): void {
    this.failures.push(error);
  }
}

/** A store that records each batch and answers each op with its own position in the batch. */
function recordingStore(): { store: Store; batches: WriteOp[][] } {
  const batches: WriteOp[][] = [];
  const store = {
    commit(ops: readonly WriteOp[]): Promise<WriteResult[]> {
      batches.push([...ops]);
      return Promise.resolve(ops.map((_, i) => ({ ok: true, signalId: i })));
    },
  } as unknown as Store;
  return { store, batches };
}

describe("GroupCommitter", () => {
  it("puts writes that wake other runs, then signals and new runs, after the runs' own writes", async () => {
    const { store, batches } = recordingStore();
    const committer = new GroupCommitter(store);
    const child = new FakeWriter(append("child", ["parent"]));
    const parent = new FakeWriter(append("parent"));
    // The child's end is ready first, and a signal to the parent is sent in the same turn.
    committer.markDirty(child);
    const signalled = committer.submit({
      type: "insertSignal",
      runId: "parent",
      name: "go",
      payload: null,
      sentAt: 0,
    });
    committer.markDirty(parent);
    const signalResult = await signalled;
    await committer.idle();

    expect(batches).toHaveLength(1);
    expect(
      batches[0]!.map((op) => `${op.type}:${op.type === "createRun" ? op.run.runId : op.runId}`),
    ).toEqual(["appendRun:parent", "appendRun:child", "insertSignal:parent"]);
    // Each caller gets the result of its own op.
    expect(parent.results).toEqual([{ ok: true, signalId: 0 }]);
    expect(child.results).toEqual([{ ok: true, signalId: 1 }]);
    expect(signalResult).toEqual({ ok: true, signalId: 2 });
  });
});
