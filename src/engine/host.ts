import type { BatonEvent, Clock, Logger, NonDeterminismError } from "../common/index.js";
import type { EventFilter, NewRun, RunRecord, SignalRecord, TaskRecord } from "../store/index.js";
import type { TriggerEvent } from "./context.js";
import type { Transport } from "../transport/index.js";
import type { WorkflowDefinition } from "./definitions.js";
import type { GroupCommitter } from "./group-commit.js";

/** Told how a replay-only run ended: matched its journal (no error) or diverged from it. */
export type ReplayOnlyListener = (
  run: HostedRun,
  divergence: NonDeterminismError | undefined,
) => void;

/** The execution as its host sees it. */
export interface HostedRun {
  readonly runId: string;
}

/** What a run's execution needs from the engine that hosts it. */
export interface ExecutionHost {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Takes the run's writes; a replay-only host (replay-check.ts) has one that refuses them. */
  readonly committer: Pick<GroupCommitter, "markDirty">;
  /**
   * Replay-only mode (`baton replay-check`): a run replays its journal and stops there —
   * nothing goes live, nothing is written — and reports whether its code matched.
   */
  readonly replayOnly?: ReplayOnlyListener;
  readonly replayAfterEveryOp: boolean;
  findWorkflow(name: string): WorkflowDefinition | undefined;
  findTransport(service: string): Transport | undefined;
  findRun(runId: string): Promise<RunRecord | undefined>;
  findTask(taskKey: string): Promise<TaskRecord | undefined>;
  /** Signals sent to a run and not yet consumed, oldest first. */
  findRunSignals(runId: string): Promise<SignalRecord[]>;
  /** A write that queued or requeued tasks is durable: wake the workers polling these services. */
  onTasksQueued(services: string[]): void;
  /** A write that withdrew tasks is durable: some may now expire at their lease's end. */
  onTasksWithdrawn(): void;
  /** Counts a finished call of a service, for the services view. */
  recordCall(service: string, ok: boolean, latencyMs: number): void;
  /** A direct call to a service started (+1) or ended (-1). */
  trackCall(service: string, delta: number): void;
  /** How long runs of a workflow are kept once they end, in ms; 0 keeps them forever. */
  retentionOf(workflow: string): number;
  /** A run that ended may be deleted from `deleteAfter` on: the sweeper looks then. */
  onRunExpires(deleteAfter: number): void;
  /** A write that made the run terminal is durable. */
  onTerminal(run: HostedRun): void;
  /** The run settled into waiting with nothing left to write: it may be evicted. */
  onIdle(run: HostedRun): void;
  /** A write that created child runs is durable: start them. */
  onChildrenCreated(parent: HostedRun, childRunIds: string[]): void;
  /** A write failed or was fenced: drop this execution; the run resumes from the store. */
  onLost(run: HostedRun, reason: unknown): void;
  /** Replay-test mode: drop the execution and replay it from the journal. */
  onReplayPoint(run: HostedRun): void;
  cancelRun(runId: string, reason: string): void;
  emit(event: BatonEvent): void;
  /** The runs an event starts through triggers (throws if a trigger cannot make its run). */
  triggerRuns(event: TriggerEvent, encodedData: string | null): NewRun[];
  /** User events a run emitted are durable: publish them live and wake the runs waiting. */
  onUserEvents(events: BatonEvent[]): void;
  /** The durable event log after a position (Store.readEvents). */
  readEvents(afterId: number, limit: number, filter?: EventFilter): Promise<BatonEvent[]>;
  /** Store.lastEventPosition. */
  lastEventPosition(): Promise<number>;
  /** The node that owns the runs this host executes. */
  readonly nodeId: string;
  /** Whether this node may still act on its runs (in a cluster: its lease has not run out). */
  holdsLease(): boolean;
  /** Test hook: a named point a crash test may stop the process at. */
  fault(point: FaultPoint, runId: string): void;
  /** Whether anyone listens to events (building them is skipped otherwise). */
  readonly hasListeners: boolean;
}

/**
 * Named points where crash tests stop the engine (test/crash/): after a journal commit, after a
 * command was sent but before its reply is recorded, after a reply is recorded, and at the
 * start of each compensation.
 */
export type FaultPoint =
  "after-journal-commit" | "after-command-sent" | "after-reply-recorded" | "during-compensation";
