import { toBatonError, type BatonError } from "../common/index.js";
import type { Store, WriteOp, WriteResult } from "../store/index.js";

/** Something with journal writes to make durable: a run's execution. */
export interface Writer {
  /** The write to commit now, or undefined if there is nothing (any more). */
  takeWrite(): WriteOp | undefined;
  onCommitted(result: WriteResult): void;
  onCommitFailed(error: BatonError): void;
}

type Callback = (error: BatonError | undefined, result: WriteResult | undefined) => void;

/**
 * Group commit: writes of every run that become ready in the same turn of the event loop go
 * into one store transaction, so many runs share one fsync. While a batch is being committed,
 * the next one accumulates; a run never has two writes in flight, so its writes apply in order.
 */
export class GroupCommitter {
  private dirty: Writer[] = [];
  private dirtySet = new Set<Writer>();
  private ops: Array<{ op: WriteOp; callback: Callback }> = [];
  private scheduled = false;
  private committing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly store: Store) {}

  markDirty(writer: Writer): void {
    if (this.dirtySet.has(writer)) return;
    this.dirtySet.add(writer);
    this.dirty.push(writer);
    this.schedule();
  }

  /** A write that belongs to no execution (a new run, a signal). */
  submit(op: WriteOp): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.ops.push({
        op,
        callback: (error, result) => (error ? reject(error) : resolve(result!)),
      });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far is committed (or failed). */
  idle(): Promise<void> {
    if (!this.scheduled && !this.committing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.committing) return;
    this.scheduled = true;
    // setImmediate runs after the microtasks of this turn: every run that reacts to the
    // same commit gets its next write into the same batch.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const writers = this.dirty;
    const standalone = this.ops;
    this.dirty = [];
    this.dirtySet = new Set();
    this.ops = [];
    // Order matters where a write wakes another run (a child's end, a signal): it must apply
    // after that run's own write of this batch, whose row was computed without the news and
    // would otherwise clear the wake-up. So: runs' writes, then those that wake others, then
    // the standalone ops (new runs, signals).
    const taken: Writer[] = [];
    const takenOps: WriteOp[] = [];
    const waking: Writer[] = [];
    const wakingOps: WriteOp[] = [];
    for (const writer of writers) {
      const op = writer.takeWrite();
      if (!op) continue;
      const wakes = op.type === "appendRun" && op.wakeRuns !== undefined && op.wakeRuns.length > 0;
      (wakes ? waking : taken).push(writer);
      (wakes ? wakingOps : takenOps).push(op);
    }
    taken.push(...waking);
    const batch: WriteOp[] = [...takenOps, ...wakingOps, ...standalone.map((s) => s.op)];
    if (batch.length > 0) {
      this.committing = true;
      let results: WriteResult[] | undefined;
      let failure: BatonError | undefined;
      try {
        results = await this.store.commit(batch);
      } catch (e) {
        failure = toBatonError(e);
      }
      this.committing = false;
      taken.forEach((writer, i) => {
        const result = results?.[i];
        if (failure || !result)
          writer.onCommitFailed(failure ?? toBatonError(new Error("no result")));
        else writer.onCommitted(result);
      });
      standalone.forEach((s, i) => s.callback(failure, results?.[taken.length + i]));
    }
    if (this.dirty.length > 0 || this.ops.length > 0) this.schedule();
    else if (!this.scheduled) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
