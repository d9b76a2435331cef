import type { ErrorData, RunStatus, WaitingOn } from "../common/index.js";
import type { ScheduleAdvance, ScheduleRecord, ScheduleSpec } from "./schedule-records.js";
import type { WebhookStore } from "./webhook-store.js";

/**
 * The durable state behind the engine. SQLite and PostgreSQL implement it and both pass
 * `conformance.ts`. JSON payloads cross this interface as text: the engine encodes once
 * and the store never looks inside.
 */
export interface Store {
  /** Brings the schema to the newest migration. Safe to call on every open. */
  migrate(): Promise<void>;

  /**
   * Applies every operation in one transaction — the group commit. An operation that cannot
   * apply (a fenced write, a run id in use) reports it in its own result and does not abort the
   * others; a store fault rejects the whole batch and nothing of it is written.
   */
  commit(ops: readonly WriteOp[]): Promise<WriteResult[]>;

  findRun(runId: string): Promise<RunRecord | undefined>;
  listRuns(query: RunQuery): Promise<RunPage>;
  readJournal(runId: string): Promise<JournalEntry[]>;
  /** Signals sent to a run and not yet consumed by a wait, oldest first. */
  pendingSignals(runId: string): Promise<SignalRecord[]>;
  /** Runs an engine must pick up after a restart: not terminal and not waiting, or due. */
  findRunsToResume(now: number): Promise<string[]>;
  /**
   * Waiting runs whose wake-up time has come, earliest first. With `nodeId` (several nodes),
   * only those that node may wake: unowned or its own (a dead node's go by findOrphanedRuns).
   */
  findDueRuns(
    now: number,
    limit: number,
    nodeId?: string,
  ): Promise<Array<{ runId: string; wakeAt: number }>>;
  /** The earliest wake-up time of any waiting run (with `nodeId`: as findDueRuns). */
  nextWakeAt(nodeId?: string): Promise<number | undefined>;
  /** Runs per workflow, version and status. */
  countRunsByWorkflow(): Promise<
    Array<{ workflow: string; version: number; status: RunStatus; count: number }>
  >;
  /**
   * The durable event log after position `afterId`, in position order, at most `limit` — the one
   * way to read it in order (streams, waits, webhooks). Positions increase in commit order: once
   * an event is read, no event with a smaller position can still appear. `topic` keeps one topic.
   */
  readEvents(afterId: number, limit: number, filter?: EventFilter): Promise<EventRecord[]>;
  /**
   * Publishes one user event outside any run, in one transaction with the runs its triggers start
   * (each created only if its run id is free) and the wake-up of runs waiting for its topic. An
   * event id already in the log writes nothing and answers with the event that has it.
   */
  publishEvent(publish: EventPublish): Promise<EventPublishResult>;
  /**
   * The highest position in the event log (0 when empty), such that every event at or below it
   * has committed: an event committed later gets a higher one.
   */
  lastEventPosition(): Promise<number>;

  // Retention (docs/operations.md, "Retention"): terminal runs past their `deleteAfter`.
  /**
   * Deletes, in one short transaction, up to `limit` terminal runs whose `deleteAfter` is at or
   * before `now`, with every row of theirs (RUN_OWNED_TABLES). A child run is kept until its
   * parent is gone. Safe on several nodes at once: two sweepers never take the same run.
   */
  deleteExpiredRuns(now: number, limit: number): Promise<RetentionSweep>;
  /** The earliest `deleteAfter` of any run, or undefined if no run is due for deletion ever. */
  nextRunExpiry(): Promise<number | undefined>;

  // The durable queue (docs/workers.md). Enqueueing rides on a run's appendRun; these serve workers.
  /**
   * Leases up to `max` deliverable tasks of a service — queued and visible, or leased with
   * deliveries left (`attempt < maxAttempts`) and either an expired lease or a delivery handed out
   * through a node (`TaskClaim.nodeId`) whose node lease lapsed; never a withdrawing task — each
   * as attempt + 1 under a fresh delivery id `{taskKey}@{attempt}.{token}`, whose token is random.
   * The lease runs until `now + leaseMs`, but never past `now + timeoutMs`. The delivery records
   * `claim.nodeId` (or none).
   */
  claimTasks(claim: TaskClaim): Promise<TaskRecord[]>;
  /** Records a worker's reply to one delivery and marks the run due; see TaskReplyResult. */
  settleTask(reply: TaskReply): Promise<TaskReplyResult>;
  /**
   * Extends a live lease to `now + leaseMs`, never past `claimedAt + timeoutMs`, and forgets the
   * node the delivery was handed out through (the worker has it: from now on only the task's
   * lease governs it, whichever node dies); "lost" if the
   * delivery's lease expired, it reached that bound, or the task moved on; "not_found" for a
   * delivery id this store never gave out (a wrong token included).
   */
  heartbeatTask(
    deliveryId: string,
    now: number,
  ): Promise<{ outcome: "ok"; leaseExpiresAt: number } | { outcome: "lost" | "not_found" }>;
  findTask(taskKey: string): Promise<TaskRecord | undefined>;
  /**
   * The earliest time a task of the service may become deliverable: visible, its lease expired
   * with deliveries left, or — with `now` — the lease of a node (other than `nodeId`) that
   * handed out a delivery of it with deliveries left could lapse (expressed on the caller's
   * clock: `now` is the caller's present).
   */
  nextVisibleAt(service: string, now?: number, nodeId?: string): Promise<number | undefined>;
  /**
   * Live tasks per service and status: queued, leased and withdrawing (the last two are in a
   * worker's hands); finished ones are not counted.
   */
  taskCounts(): Promise<Array<{ service: string; status: TaskStatus; count: number }>>;
  /**
   * Ends, in one transaction, up to `limit` tasks that no worker's reply can settle any more:
   * a withdrawing task whose lease expired, or a leased one whose lease expired on its last
   * delivery, becomes `expired` (LEASE_EXPIRED, or STEP_TIMEOUT when the delivery reached
   * `timeoutMs`; not retryable: whether the command took effect is unknown); a queued task whose
   * queue deadline passed becomes `failed` (QUEUE_TIMEOUT, retryable). Each one's run is marked
   * due and told, as for a worker's reply. Returns the tasks it changed.
   */
  expireTasks(now: number, limit: number): Promise<TaskRecord[]>;
  /** The earliest time expireTasks could find something to do, or undefined if never. */
  nextTaskExpiry(): Promise<number | undefined>;

  // Ownership across nodes (docs/operations.md, "Several nodes"). A single node never needs these writes.
  /**
   * Announces or renews a node's lease: its runs stay its own for `leaseMs` — from `now` on
   * SQLite, from the database's own clock on PostgreSQL (nodes' clocks may disagree; the
   * database's is the one every lease check there uses). `instance` names the process: while
   * another instance's lease under the same node id lives, nothing is written and the answer is
   * "in_use" (two processes started with one node id must not both execute runs). An instance
   * that takes a node id over releases the deliveries its predecessor handed out (their leases end
   * now, so they are delivered again) and bumps the epoch of the node's unfinished runs (fencing
   * off the predecessor's writes). Without `instance` the lease is renewed unconditionally.
   */
  renewNode(nodeId: string, now: number, leaseMs: number, instance?: string): Promise<NodeRenewal>;
  /** When a node's lease runs (or ran) out; undefined for a node never seen. */
  nodeLeaseExpiresAt(nodeId: string): Promise<number | undefined>;
  /**
   * Takes a run for `nodeId` if no live node holds it: unowned, owned by a node whose lease
   * expired, or already this node's. A change of owner bumps the epoch, which fences off every
   * later write of the previous owner. Returns the run as now owned, or undefined if another live
   * node owns it, or it is terminal or unknown.
   */
  acquireRun(runId: string, nodeId: string, now: number): Promise<RunRecord | undefined>;
  /** Gives a run back (it left memory), only if this node still owns it at this epoch. */
  releaseRun(runId: string, nodeId: string, epoch: number): Promise<void>;
  /**
   * Runs with work to do that no live node holds: not terminal, pending/running/compensating or
   * waiting and due, and unowned or owned by a node whose lease expired (or, with `includeOwn`,
   * owned by `nodeId` — a restarted node taking its own runs back at once).
   */
  /**
   * Cross-node wake-ups, where the store has them (PostgreSQL's LISTEN/NOTIFY): runs with news
   * (a signal, a worker's reply, a child's end, a run's end) and services with new tasks.
   * Absent on a single-node store. Resolves once listening; the function it gives stops it.
   */
  subscribe?(listener: (notification: StoreNotification) => void): Promise<() => Promise<void>>;
  findOrphanedRuns(query: {
    now: number;
    nodeId: string;
    includeOwn: boolean;
    limit: number;
  }): Promise<string[]>;

  // The services view, shared by every node (several nodes flush theirs here).
  /**
   * In one transaction: upserts the workers seen (a later sighting wins), adds each service's
   * call counts to the node's row and replaces its latency samples and in-flight count, and drops
   * workers unseen since `pruneBefore`.
   */
  saveServiceActivity(activity: ServiceActivity): Promise<void>;
  /** Workers seen at or after `workersSince`, and every node's call figures per service. */
  readServiceActivity(
    workersSince: number,
  ): Promise<{ workers: WorkerSighting[]; calls: ServiceCalls[] }>;

  // Schedules (docs/schedules.md): their runs are ordinary runs, created through `commit`.
  /**
   * Creates a schedule, or replaces the spec of the one of that name keeping its paused state and
   * ticking; `nextFireAt` applies to a new schedule, or when the cron or time zone changed.
   */
  upsertSchedule(
    spec: ScheduleSpec,
    nextFireAt: number | null,
    now: number,
  ): Promise<{ created: boolean; schedule: ScheduleRecord }>;
  findSchedule(name: string): Promise<ScheduleRecord | undefined>;
  /** Every schedule, by name. */
  listSchedules(): Promise<ScheduleRecord[]>;
  /** Writes one decision if `next_fire_at` is still as read and the schedule is not paused. */
  advanceSchedule(advance: ScheduleAdvance): Promise<boolean>;
  /** Clears the pending ticks set by the decision made at `pendingSince` (their runs exist). */
  settleScheduleTicks(name: string, pendingSince: number): Promise<void>;
  /** Pauses, or resumes with `nextFireAt` as the next tick; false for an unknown schedule. */
  setSchedulePaused(
    name: string,
    paused: boolean,
    nextFireAt: number | null,
    now: number,
  ): Promise<boolean>;
  deleteSchedule(name: string): Promise<boolean>;
  /** Webhook subscriptions and their deliveries (docs/webhooks.md). */
  readonly webhooks: WebhookStore;
  close(): Promise<void>;
}

/** "in_use": another live process holds the node id (`instance` names it, if it said). */
export type NodeRenewal = { outcome: "renewed" } | { outcome: "in_use"; instance: string | null };

export interface WorkerSighting {
  service: string;
  workerId: string;
  /** The node it polled. */
  nodeId: string;
  lastSeenAt: number;
}

/** One node's call figures for one service. */
export interface ServiceCalls {
  service: string;
  nodeId: string;
  completed: number;
  failures: number;
  /** Direct calls under way at the node's last flush. */
  inFlight: number;
  /** The node's most recent latencies, ms. */
  latencies: number[];
  updatedAt: number;
}

export interface ServiceActivity {
  nodeId: string;
  now: number;
  workers: readonly WorkerSighting[];
  /** `completed` and `failures` here are what the node saw since its last flush. */
  calls: ReadonlyArray<Omit<ServiceCalls, "nodeId" | "updatedAt">>;
  pruneBefore: number;
}

/**
 * News from the store, heard by every node. `runs`: a run was woken (a signal, a worker's reply,
 * a child's end) or, with `ended`, reached a terminal status. `resync`: notifications may have
 * been missed (the listening connection dropped); look at whatever may have changed.
 */
export type StoreNotification =
  | { channel: "runs"; runId: string; ended: boolean }
  | { channel: "tasks"; service: string }
  | { channel: "resync" };

/**
 * `queued`: waiting for a worker. `leased`: a worker holds the current delivery. `withdrawing`:
 * its run no longer wants it while a worker holds it — never delivered again, but that worker may
 * still reply while its lease is live. `withdrawn`: taken back before any worker held it (never
 * delivered since). `completed` / `failed`: a worker replied (or, `failed` with QUEUE_TIMEOUT, no
 * worker claimed it in time). `expired`: a delivery's lease ran out with no reply and no delivery
 * may follow, so whether the command took effect is unknown.
 */
export type TaskStatus =
  "queued" | "leased" | "withdrawing" | "completed" | "failed" | "withdrawn" | "expired";

export interface NewTask {
  taskKey: string;
  service: string;
  command: string;
  input: string | null;
  runId: string;
  workflow: string;
  seq: number;
  traceparent: string;
  leaseMs: number;
  /** Deliveries allowed in all, the first included; a lease that expires on the last one ends it. */
  maxAttempts: number;
  /** Bound of one delivery, from a worker's claim to its reply (heartbeats cannot pass it). */
  timeoutMs: number | null;
  /** How long it may wait queued (from `visibleAt`, again after each requeue) before a claim. */
  queueTimeoutMs: number | null;
  visibleAt: number;
  createdAt: number;
}

export interface TaskRecord extends NewTask {
  status: TaskStatus;
  attempt: number;
  deliveryId: string | null;
  workerId: string | null;
  /** When the current (or last) delivery was claimed. */
  claimedAt: number | null;
  leaseExpiresAt: number | null;
  output: string | null;
  error: ErrorData | null;
  retryable: boolean | null;
  updatedAt: number;
  /** The node the current delivery was handed out through, while that matters (see TaskClaim). */
  nodeId: string | null;
}

export interface TaskClaim {
  service: string;
  workerId: string;
  max: number;
  now: number;
  /**
   * The node handing the deliveries out (several nodes). Should that node's lease lapse — it died
   * before its answer reached the worker, say — they are delivered again then, not once their own
   * leases run out. Absent on a single node.
   */
  nodeId?: string;
}

export interface TaskReply {
  deliveryId: string;
  now: number;
  outcome: "completed" | "failed";
  output?: string | null;
  error?: ErrorData;
  retryable?: boolean;
}

/**
 * "settled": this reply was recorded now. "duplicate": the same delivery already replied the
 * same way (harmless). "lost": the delivery's lease expired, the task expired or moved on (409).
 */
export type TaskReplyResult =
  | { outcome: "settled" | "duplicate"; task: TaskRecord }
  | { outcome: "lost"; task: TaskRecord }
  | { outcome: "not_found" };

/** What one sweep deleted: runs, and rows per table (the runs table included). */
export interface RetentionSweep {
  runs: number;
  rows: Record<string, number>;
}

/** A run's row. `journalLength` is the next free journal position. */
export interface RunRecord {
  runId: string;
  workflow: string;
  status: RunStatus;
  input: string | null;
  output: string | null;
  error: ErrorData | null;
  parentRunId: string | null;
  parentSeq: number | null;
  createdAt: number;
  updatedAt: number;
  wakeAt: number | null;
  waitingOn: WaitingOn | null;
  journalLength: number;
  epoch: number;
  /** The node that executes the run, if one does. */
  owner?: string | null;
  /** 1, and one more at each ctx.continueAsNew; the journal holds this generation only. */
  generation: number;
  /** The workflow version the run executes (1 for runs made before versions existed). */
  version: number;
  /** Tags given on start. */
  tags?: Record<string, string> | null;
  /** When the run may be deleted (set as it ends; null while it runs or if kept forever). */
  deleteAfter?: number | null;
}

/**
 * One journal entry. `seq` is set on entries that belong to a ctx operation; run-level
 * entries (run.started, run.completed…) have none. `data` is JSON text.
 */
export interface JournalEntry {
  position: number;
  seq: number | null;
  type: string;
  name: string | null;
  data: string | null;
  at: number;
}

export interface SignalRecord {
  signalId: number;
  runId: string;
  name: string;
  payload: string | null;
  sentAt: number;
}

/**
 * One event of the durable log: Baton's own (a run's end, a failed compensation) or a user's.
 * Written without `position`; read with it. `eventId` is the user's id (unique in the log: a
 * second write of one id writes nothing); Baton's own events are written without one and read
 * with `~{position}`. `type` is the topic. `runId` / `workflow` / `status`: the run the event is
 * about or that emitted it (null on a user event published outside any run).
 */
export interface EventRecord {
  position?: number;
  eventId?: string;
  /** Read: whether a user published it. Written: implied by `eventId`. */
  user?: boolean;
  type: string;
  runId: string | null;
  workflow: string | null;
  status: RunStatus | null;
  data: string | null;
  at: number;
}

export interface EventFilter {
  topic?: string;
}

export interface EventPublish {
  event: EventRecord & { eventId: string };
  /** Runs the event's triggers start: created with the event, each only if its id is free. */
  createRuns: NewRun[];
}

/** `created`: written now (with the trigger runs it created); otherwise the event that had the id. */
export type EventPublishResult =
  | { created: true; event: EventRecord; createdRuns: string[] }
  | { created: false; event: EventRecord };

export interface NewRun {
  runId: string;
  workflow: string;
  input: string | null;
  createdAt: number;
  parentRunId: string | null;
  parentSeq: number | null;
  /** The run's first journal entry (run.started), written with the row. */
  firstEntry: JournalEntry;
  /** The node that creates the run owns it from the start. */
  owner?: string | null;
  /** The workflow version the run executes; 1 if not given. */
  version?: number;
  /** Tags to search it by (validated by the engine: at most 16 string pairs). */
  tags?: Record<string, string>;
}

/** The state of a run after a write: every append carries it, so the row is always current. */
export interface RunUpdate {
  status: RunStatus;
  updatedAt: number;
  wakeAt: number | null;
  waitingOn: WaitingOn | null;
  output?: string | null;
  error?: ErrorData | null;
  /** When the run may be deleted: set by the write that ends it; absent or null keeps it. */
  deleteAfter?: number | null;
}

export type WriteOp =
  | { type: "createRun"; run: NewRun }
  | {
      type: "appendRun";
      runId: string;
      /** Fencing token: the write applies only while the run's epoch is still this one. */
      epoch: number;
      /** Position the first entry must take: a mismatch means another writer got there. */
      expectedLength: number;
      entries: JournalEntry[];
      update: RunUpdate;
      consumedSignals?: Array<{ signalId: number; seq: number }>;
      createRuns?: NewRun[];
      /** Other runs to wake (a parent when its child ends), so a crash cannot lose the wake-up. */
      wakeRuns?: string[];
      /** Commands to put on the durable queue, atomically with the entries that record them. */
      enqueueTasks?: NewTask[];
      /**
       * Tasks to deliver again (a retry after a failure), not before `visibleAt`; attempts keep
       * counting and the queue deadline starts again from `visibleAt`. A task a worker holds
       * (leased or withdrawing) is left alone.
       */
      requeueTasks?: Array<{ taskKey: string; visibleAt: number }>;
      /**
       * Tasks whose run no longer wants them (cancelled, compensating): a queued one becomes
       * `withdrawn`, a leased one `withdrawing` (see TaskStatus); others stay as they are.
       */
      withdrawTasks?: string[];
      /**
       * Events committed with these entries: Baton's own, and user events a run emits (an id
       * already in the log writes nothing). A new user event wakes the runs waiting for its topic.
       */
      events?: EventRecord[];
      /**
       * ctx.continueAsNew: after the entries above, in the same transaction, the run's next
       * generation starts — its input replaced, `generation` one more, every journal entry before
       * `firstEntry` deleted and `firstEntry` (at position `expectedLength + entries.length`)
       * written; the run's signals stay (unconsumed ones are the next generation's).
       */
      continueAsNew?: { input: string | null; firstEntry: JournalEntry };
    }
  | {
      type: "insertSignal";
      runId: string;
      name: string;
      payload: string | null;
      sentAt: number;
      /**
       * Refuse the signal (TOO_MANY_SIGNALS, nothing written) if the run already holds this many
       * unconsumed signals of its own (Baton's reserved `baton:` ones do not count). Checked in
       * the transaction that inserts, under a lock of the run's row: two nodes cannot overshoot.
       */
      maxPending?: number;
    };

export type WriteResult =
  | { ok: true; created?: boolean; run?: RunRecord; signalId?: number }
  | { ok: false; error: ErrorData };

export interface RunQuery {
  workflow?: string;
  status?: RunStatus;
  /** Prefix of the run id, case-sensitive (the dashboard's search). */
  runIdPrefix?: string;
  /** Only runs with every one of these tags. */
  tags?: ReadonlyArray<{ key: string; value: string }>;
  /** Created at or after this time (ms). */
  createdAfter?: number;
  /** Created before this time (ms). */
  createdBefore?: number;
  limit: number;
  cursor?: string;
}

export interface RunPage {
  runs: RunRecord[];
  nextCursor?: string;
}
