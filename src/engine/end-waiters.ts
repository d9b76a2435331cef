import {
  NotFoundError,
  decodeJson,
  isTerminal,
  type Clock,
  type ErrorData,
  type Logger,
  type RunStatus,
} from "../common/index.js";
import type { RunRecord, Store } from "../store/index.js";

/** How a run ended, as a caller awaiting it learns. */
export interface TerminalInfo {
  status: RunStatus;
  output?: unknown;
  error?: ErrorData;
}

/** Several nodes: how often an awaited run executing elsewhere is looked at, in case a wake-up is lost. */
const CLUSTER_POLL_MS = 1_000;

/**
 * Callers awaiting runs' ends (`result`, `wait`, `?wait=` on the API). A run in memory here
 * reports its own end; one executing on another node is looked up when the store says it ended
 * and, with several nodes, every second as well.
 */
export class EndWaiters {
  private readonly waiters = new Map<string, Array<(info: TerminalInfo) => void>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Whether the run executes here and has not ended (it will report its end itself). */
    private readonly isResidentAndLive: (runId: string) => boolean,
    /** Whether the run executes here at all (then the store's row may lag its end). */
    private readonly isResident: (runId: string) => boolean,
    private readonly clustered: boolean,
    private readonly isClosed: () => boolean,
  ) {}

  /** Run ids someone awaits. */
  awaited(): IterableIterator<string> {
    return this.waiters.keys();
  }

  isAwaited(runId: string): boolean {
    return this.waiters.has(runId);
  }

  /** A run in memory here ended (durably). */
  resolve(runId: string, info: TerminalInfo): void {
    const waiters = this.waiters.get(runId);
    if (!waiters) return;
    this.waiters.delete(runId);
    for (const resolve of waiters) resolve(info);
  }

  /** Resolves once the run is terminal; RUN_NOT_FOUND if it does not exist. */
  waitForEnd(runId: string): Promise<TerminalInfo> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiters.get(runId) ?? [];
      waiters.push(resolve);
      this.waiters.set(runId, waiters);
      if (this.isResidentAndLive(runId)) return;
      if (this.clustered) this.pollEnd(runId, resolve);
      // Look after registering, so an end that lands in between is not missed.
      this.store.findRun(runId).then((record) => {
        if (!record)
          reject(new NotFoundError("RUN_NOT_FOUND", `run ${runId} does not exist`, { runId }));
        else if (isTerminal(record.status) && !this.isResident(runId))
          resolve(terminalInfo(record));
        else return;
        const list = this.waiters.get(runId)?.filter((w) => w !== resolve);
        if (list?.length) this.waiters.set(runId, list);
        else this.waiters.delete(runId);
      }, reject);
    });
  }

  /** Resolves the waiters of a run that this node does not execute, if it ended. */
  checkEnded(runId: string): void {
    this.store
      .findRun(runId)
      .then((record) => {
        if (!record || !isTerminal(record.status) || this.isResident(runId)) return;
        this.resolve(runId, terminalInfo(record));
      })
      .catch((e: unknown) =>
        this.logger.warn({ runId, err: e }, "could not check whether a run ended"),
      );
  }

  private pollEnd(runId: string, waiter: (info: TerminalInfo) => void): void {
    const look = (): void => {
      if (this.isClosed() || !this.waiters.get(runId)?.includes(waiter)) return;
      this.checkEnded(runId);
      this.clock.setTimer(CLUSTER_POLL_MS, look);
    };
    this.clock.setTimer(CLUSTER_POLL_MS, look);
  }
}

export function terminalInfo(record: RunRecord): TerminalInfo {
  const info: TerminalInfo = { status: record.status };
  if (record.output !== null) info.output = decodeJson(record.output);
  if (record.error) info.error = record.error;
  return info;
}
