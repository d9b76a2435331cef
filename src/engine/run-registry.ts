import { decodeJson, isTerminal, type Clock, type Logger } from "../common/index.js";
import type { JournalEntry, RunRecord, SignalRecord, Store } from "../store/index.js";
import type { WorkflowDefinition } from "./definitions.js";
import type { WorkflowVersions } from "./versions.js";
import type { ExecutionHost } from "./host.js";
import { RunExecution } from "./run-execution.js";
import { validateInput } from "./validate-input.js";

/** A failed load is tried again after 1 s, 2 s, 4 s … at most 30 s apart. */
const LOAD_RETRY_MS = 1_000;
const LOAD_RETRY_MAX_MS = 30_000;

/**
 * The runs this process executes, and the cache that keeps memory bounded: waiting runs beyond
 * `cacheSize` are dropped (least recently active first) and resumed by replay when they wake.
 * Loading a run from the store — and, with several nodes, acquiring it — happens here.
 */
export class RunRegistry {
  private readonly executions = new Map<string, RunExecution>();
  private readonly activating = new Map<string, Promise<void>>();
  /** Waiting executions, least recently active first. */
  private readonly idle = new Map<string, RunExecution>();
  /** Runs whose last load failed, with how many times in a row. */
  private readonly failedLoads = new Map<string, number>();
  /** Runs left alone because this node lacks their workflow version (said once per run). */
  private readonly lacking = new Set<string>();

  constructor(
    private readonly host: ExecutionHost,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** A run is executed only by the code of the version it started with. */
    private readonly workflows: WorkflowVersions,
    private readonly cacheSize: number,
    /** This node's id when several nodes share the store; undefined on a single node. */
    private readonly clusterNodeId: string | undefined,
    private readonly isClosed: () => boolean,
    /** A run left memory: its wake-up must be armed by the scheduler. */
    private readonly onEvicted: (wakeAt: number | null) => void,
  ) {}

  get(runId: string): RunExecution | undefined {
    return this.executions.get(runId);
  }

  /** In memory, or being loaded. */
  isPresent(runId: string): boolean {
    return this.executions.has(runId) || this.activating.has(runId);
  }

  isActivating(runId: string): boolean {
    return this.activating.has(runId);
  }

  values(): IterableIterator<RunExecution> {
    return this.executions.values();
  }

  get size(): number {
    return this.executions.size;
  }

  /** Settles once every load in progress has. */
  async loadsSettled(): Promise<void> {
    await Promise.allSettled(this.activating.values());
  }

  /**
   * Loads a run from the store and resumes it by replay; no-op if in memory or finished. Never
   * rejects: a load that fails (the database is away) is tried again with backoff.
   */
  activate(runId: string): Promise<void> {
    if (this.isClosed() || this.executions.has(runId)) return Promise.resolve();
    const inProgress = this.activating.get(runId);
    if (inProgress) return inProgress;
    const activation = this.load(runId)
      .then(
        () => {
          this.failedLoads.delete(runId);
        },
        (e: unknown) => this.retryLater(runId, e),
      )
      .finally(() => this.activating.delete(runId));
    this.activating.set(runId, activation);
    return activation;
  }

  private retryLater(runId: string, error: unknown): void {
    const failures = (this.failedLoads.get(runId) ?? 0) + 1;
    this.failedLoads.set(runId, failures);
    const delay = Math.min(LOAD_RETRY_MAX_MS, LOAD_RETRY_MS * 2 ** (failures - 1));
    this.logger.error(
      { runId, err: error, failures, retryInMs: delay },
      "could not resume run; trying again",
    );
    this.clock.setTimer(delay, () => {
      if (!this.isClosed()) void this.activate(runId);
    });
  }

  /** Starts executing a run whose row and journal are at hand (a new run, or a loaded one). */
  launch(
    record: RunRecord,
    definition: WorkflowDefinition,
    journal: readonly JournalEntry[],
    signals: SignalRecord[],
    input: unknown,
  ): void {
    const run = new RunExecution(this.host, record, definition, journal, signals);
    this.executions.set(record.runId, run);
    run.start(input);
  }

  /**
   * Runs `fn` on the run in memory, or loads it (the store already has what `fn` would tell it).
   * Never rejects: what `fn` throws is logged with the run.
   */
  async withExecution(runId: string, fn: (run: RunExecution) => void): Promise<void> {
    const inProgress = this.activating.get(runId);
    if (inProgress) await inProgress;
    const run = this.executions.get(runId);
    if (!run) return this.activate(runId);
    try {
      fn(run);
    } catch (e) {
      this.logger.error({ runId, err: e }, "could not hand news to a run");
    }
  }

  /** The run settled into waiting: most recently active now; the oldest idle ones may go. */
  noteIdle(runId: string): void {
    const run = this.executions.get(runId);
    if (!run) return;
    this.idle.delete(runId);
    this.idle.set(runId, run);
    while (this.idle.size > this.cacheSize) {
      const [oldestId, oldest] = this.idle.entries().next().value as [string, RunExecution];
      this.idle.delete(oldestId);
      if (oldest.isIdle()) this.evict(oldest);
    }
  }

  /** Forgets a run (it ended, or was lost); the execution itself is already halted or done. */
  remove(runId: string): void {
    this.executions.delete(runId);
    this.idle.delete(runId);
  }

  evict(run: RunExecution): void {
    run.halt();
    this.remove(run.runId);
    this.onEvicted(run.wakeAt);
    // Give it back, so whichever node is woken for it first can take it.
    if (this.clusterNodeId !== undefined) {
      this.store
        .releaseRun(run.runId, this.clusterNodeId, run.epoch)
        .catch((e: unknown) =>
          this.logger.warn({ runId: run.runId, err: e }, "could not release run"),
        );
    }
  }

  /** Halts and forgets every run in memory (the lease lapsed, or the engine closes). */
  dropAll(): void {
    for (const run of this.executions.values()) run.halt();
    this.executions.clear();
    this.idle.clear();
  }

  /** Logs once per run that this node lacks its workflow version. */
  private noteLacking(record: RunRecord): void {
    if (this.lacking.has(record.runId)) return;
    this.lacking.add(record.runId);
    this.logger.warn(
      {
        runId: record.runId,
        workflow: record.workflow,
        version: record.version,
        registered: this.workflows.versionsOf(record.workflow),
      },
      "run waits: its workflow version is not registered on this node",
    );
  }

  private async load(runId: string): Promise<void> {
    const nodeId = this.clusterNodeId;
    if (nodeId !== undefined) {
      // Never take a run this node cannot execute (during a rolling deploy, its workflow or its
      // version may exist only on other nodes): owning it would keep the nodes that can from
      // taking it. It stays unowned (or with its dead owner) for a node that has the code.
      const seen = await this.store.findRun(runId);
      if (!seen || isTerminal(seen.status)) return;
      if (!this.workflows.has(seen.workflow, seen.version)) {
        this.noteLacking(seen);
        // Its own from before a restart with other code: give it back for a node that has it.
        if (seen.owner === nodeId) await this.store.releaseRun(runId, nodeId, seen.epoch);
        return;
      }
    }
    // In a cluster, a run is resumed only by the node that acquires it (which fences the last one).
    const record =
      nodeId !== undefined
        ? await this.store.acquireRun(runId, nodeId, this.clock.now())
        : await this.store.findRun(runId);
    if (!record || isTerminal(record.status)) return;
    const definition = this.workflows.find(record.workflow, record.version);
    if (!definition) {
      // Not failed: it waits (its waitingOn says for what) until a node with that code runs it.
      this.noteLacking(record);
      return;
    }
    this.lacking.delete(runId);
    const [journal, signals] = await Promise.all([
      this.store.readJournal(runId),
      this.store.pendingSignals(runId),
    ]);
    if (this.isClosed() || this.executions.has(runId)) return;
    let input = decodeJson(record.input);
    try {
      input = validateInput(definition, input);
    } catch (e) {
      this.logger.warn(
        { runId, err: e },
        "stored input no longer matches the workflow's schema; passing it unparsed",
      );
    }
    this.launch(record, definition, journal, signals, input);
  }
}
