import {
  ConflictError,
  NotFoundError,
  ValidationError,
  decodeJson,
  findNonJson,
  type Clock,
  type ErrorData,
  type Logger,
  type Task,
  type TimerHandle,
} from "../common/index.js";
import type { Store, TaskRecord, TaskReplyResult } from "../store/index.js";
import type { ServiceStats } from "./service-stats.js";

export interface PollRequest {
  workerId: string;
  max?: number;
  /** Long poll: how long to wait for a task if none is ready. */
  waitMs?: number;
  /** Aborts the wait (the worker disconnected, the server is closing). */
  signal?: AbortSignal;
}

const MAX_TASKS_PER_POLL = 100;
const MAX_WAIT_MS = 60_000;
/** Tasks one expireTasks transaction ends at most; a sweep repeats until none are due. */
const EXPIRE_BATCH = 100;
/** After a failed sweep, or one that found due tasks another node was already ending. */
const SWEEP_RETRY_MS = 1_000;
const DEFAULT_SAFETY_SWEEP_MS = 5_000;

export interface TaskQueueOptions {
  /** Where a failed expiry sweep is reported (it is retried, never thrown). */
  logger?: Logger;
  /**
   * How often to look for expiries no hint announced (ms, wall clock): another node's tasks, or a
   * node that died with its timer. Infinity turns it off.
   */
  safetySweepMs?: number;
  /**
   * This node's id when several nodes share the store: each delivery records the node it went
   * out through, so that it is delivered again as soon as this node's lease lapses should the node
   * die with the answer unsent (see Store.claimTasks), and long polls wake when another node's
   * lease could lapse with deliveries of their service in hand.
   */
  nodeId?: string;
}

/**
 * The worker side of the durable queue (docs/workers.md): long polls that wake on a notification
 * rather than a polling loop, leases, heartbeats, replies. Replies are written to the task row
 * first (durable), then handed to the run, which journals them.
 */
export class TaskQueue {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly logger: Logger | undefined;
  /** The expiry sweep armed through the clock, and the time it is due. */
  private expiryTimer: { handle: TimerHandle; at: number } | undefined;
  private safetyTimer: ReturnType<typeof setTimeout> | undefined;
  private sweeping: Promise<void> | undefined;
  private sweepAgain = false;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly stats: ServiceStats,
    private readonly isQueueService: (service: string) => boolean,
    private readonly onReply: (task: TaskRecord) => void,
    /**
     * Several nodes on a database without notifications: tasks other nodes enqueue are heard of
     * by no one here, so a long poll looks again this often instead of only at its deadline.
     */
    private readonly recheckMs = Infinity,
    private readonly options: TaskQueueOptions = {},
  ) {
    this.logger = options.logger;
    // Not a look at once: expiries handed over before the engine recovered its runs would race
    // that recovery. Those due while no process watched are the engine's to ask for (noteExpiry()
    // once recovered) or the safety sweep's.
    this.armSafetySweep();
  }

  async poll(service: string, request: PollRequest): Promise<Task[]> {
    if (!this.isQueueService(service)) {
      throw new NotFoundError(
        "SERVICE_NOT_FOUND",
        `no queue-served service is named ${JSON.stringify(service)}`,
        { service },
      );
    }
    if (
      typeof request.workerId !== "string" ||
      request.workerId.length === 0 ||
      request.workerId.length > 200
    ) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        "workerId must be a string of 1–200 characters",
      );
    }
    const max = request.max ?? 1;
    if (!Number.isInteger(max) || max < 1 || max > MAX_TASKS_PER_POLL) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `max must be a whole number from 1 to ${MAX_TASKS_PER_POLL}`,
      );
    }
    const waitMs = request.waitMs ?? 0;
    if (!Number.isFinite(waitMs) || waitMs < 0 || waitMs > MAX_WAIT_MS) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `waitSeconds must be from 0 to ${MAX_WAIT_MS / 1000}`,
      );
    }
    // Wall time on purpose: how long this worker's request is held open, not the runs' time.
    const deadline = Date.now() + waitMs;
    for (;;) {
      const now = this.clock.now();
      this.stats.sawWorker(service, request.workerId, now);
      const claimed = await this.store.claimTasks({
        service,
        workerId: request.workerId,
        max,
        now,
        ...(this.options.nodeId !== undefined ? { nodeId: this.options.nodeId } : {}),
      });
      for (const task of claimed) {
        // A last delivery is ended by the sweeper if its lease runs out with no reply.
        if (task.attempt >= task.maxAttempts && task.leaseExpiresAt !== null)
          this.noteExpiry(task.leaseExpiresAt);
      }
      if (claimed.length > 0 || Date.now() >= deadline || request.signal?.aborted)
        return claimed.map(toTask);
      // Sleep until notified, until the next task becomes deliverable, or until the deadline.
      const nodeId = this.options.nodeId;
      const nextAt = await (nodeId === undefined
        ? this.store.nextVisibleAt(service)
        : this.store.nextVisibleAt(service, this.clock.now(), nodeId));
      const untilNext = nextAt === undefined ? Infinity : Math.max(1, nextAt - this.clock.now());
      await this.waitForWork(
        service,
        Math.min(deadline - Date.now(), untilNext, this.recheckMs),
        request.signal,
      );
    }
  }

  /**
   * New or requeued tasks are durable: wake the pollers of these services, and look for the
   * earliest expiry again (a queue deadline may have come with them).
   */
  notify(services: readonly string[]): void {
    if (services.length > 0) this.noteExpiry();
    for (const service of services) {
      const waiting = this.waiters.get(service);
      if (!waiting) continue;
      this.waiters.delete(service);
      for (const wake of waiting) wake();
    }
  }

  async complete(taskId: string, output: unknown): Promise<void> {
    const problem = output === undefined ? undefined : findNonJson(output, "output");
    if (problem) throw new ValidationError("INPUT_NOT_JSON", `task output is not JSON: ${problem}`);
    const result = await this.store.settleTask({
      deliveryId: taskId,
      now: this.clock.now(),
      outcome: "completed",
      output: output === undefined ? null : JSON.stringify(output),
    });
    this.handle(taskId, result);
  }

  async fail(
    taskId: string,
    error: { message: string; type?: string; code?: string },
    retryable = true,
  ): Promise<void> {
    if (typeof error?.message !== "string")
      throw new ValidationError("INVALID_ARGUMENT", "error.message must be a string");
    const data: ErrorData = {
      code: error.code ?? (retryable ? "TASK_FAILED" : "STEP_FAILED"),
      message: error.message,
      ...(error.type ? { details: { type: error.type } } : {}),
    };
    const result = await this.store.settleTask({
      deliveryId: taskId,
      now: this.clock.now(),
      outcome: "failed",
      error: data,
      retryable,
    });
    this.handle(taskId, result);
  }

  async heartbeat(taskId: string): Promise<{ leaseExpiresAt: string }> {
    const result = await this.store.heartbeatTask(taskId, this.clock.now());
    if (result.outcome !== "ok")
      throw result.outcome === "lost" ? leaseLost(taskId) : taskNotFound(taskId);
    return { leaseExpiresAt: new Date(result.leaseExpiresAt).toISOString() };
  }

  /**
   * Something may expire at `at` (a queue deadline, a lease with no delivery after it): the
   * sweeper looks then. Without `at` it asks the store when the next expiry is — after tasks
   * were withdrawn, say, whose leases the caller does not know.
   */
  noteExpiry(at?: number): void {
    if (this.closed) return;
    if (at === undefined) void this.sweep();
    else this.armExpiry(at);
  }

  /** Stops the sweeper and waits for a sweep in progress; polls still waiting end on their own. */
  async close(): Promise<void> {
    this.closed = true;
    this.expiryTimer?.handle.cancel();
    this.expiryTimer = undefined;
    clearTimeout(this.safetyTimer);
    await this.sweeping;
  }

  private armExpiry(at: number): void {
    if (this.closed || (this.expiryTimer && this.expiryTimer.at <= at)) return;
    this.expiryTimer?.handle.cancel();
    const handle = this.clock.setTimer(at - this.clock.now(), () => {
      if (this.expiryTimer?.handle === handle) this.expiryTimer = undefined;
      void this.sweep();
    });
    this.expiryTimer = { handle, at };
  }

  private armSafetySweep(): void {
    const every = this.options.safetySweepMs ?? DEFAULT_SAFETY_SWEEP_MS;
    if (this.closed || !Number.isFinite(every)) return;
    this.safetyTimer = setTimeout(() => {
      void this.sweep();
      this.armSafetySweep();
    }, every);
    // A timer of its own must never keep the process alive.
    this.safetyTimer.unref?.();
  }

  /** One sweep at a time; a sweep asked for meanwhile runs once the current one ends. */
  private sweep(): Promise<void> {
    if (this.sweeping) {
      this.sweepAgain = true;
      return this.sweeping;
    }
    this.sweeping = (async () => {
      do {
        this.sweepAgain = false;
        await this.expireDue();
      } while (this.sweepAgain && !this.closed);
      this.sweeping = undefined;
    })();
    return this.sweeping;
  }

  /**
   * Ends every task that is due to expire, hands each to the run as a worker's reply would be,
   * then arms the timer for the next expiry. The store writes the outcome and marks the run due
   * in one transaction before anything here learns of it: a crash in between loses nothing,
   * the run reads the task row when it resumes. Never throws: a store error is logged and the
   * sweep is tried again.
   */
  private async expireDue(): Promise<void> {
    try {
      for (;;) {
        const next = await this.store.nextTaskExpiry();
        if (this.closed || next === undefined) return;
        const now = this.clock.now();
        if (next > now) return this.armExpiry(next);
        const expired = await this.store.expireTasks(now, EXPIRE_BATCH);
        for (const task of expired) this.handOver(task);
        // Due yet nothing ended: another node is ending them (its rows are skipped, not waited
        // for). Look again shortly rather than spin.
        if (expired.length === 0) return this.armExpiry(now + SWEEP_RETRY_MS);
      }
    } catch (e) {
      this.logger?.warn({ err: e }, "task expiry sweep failed; trying again");
      if (!this.closed) this.armExpiry(this.clock.now() + SWEEP_RETRY_MS);
    }
  }

  private handOver(task: TaskRecord): void {
    try {
      this.onReply(task);
    } catch (e) {
      this.logger?.error(
        { runId: task.runId, taskKey: task.taskKey, err: e },
        "expired task not handed to its run",
      );
    }
  }

  private handle(taskId: string, result: TaskReplyResult): void {
    if (result.outcome === "not_found") throw taskNotFound(taskId);
    if (result.outcome === "lost") {
      // The same outcome from an earlier delivery is harmless too; anything else lost the race.
      throw leaseLost(taskId);
    }
    if (result.outcome === "settled") this.onReply(result.task);
  }

  private waitForWork(service: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let waiting = this.waiters.get(service);
      if (!waiting) {
        waiting = new Set();
        this.waiters.set(service, waiting);
      }
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters.get(service)?.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, MAX_WAIT_MS)));
      signal?.addEventListener("abort", done);
      waiting.add(done);
    });
  }
}

function toTask(record: TaskRecord): Task {
  return {
    taskId: record.deliveryId ?? "",
    service: record.service,
    command: record.command,
    input: decodeJson(record.input),
    runId: record.runId,
    workflow: record.workflow,
    idempotencyKey: record.taskKey,
    attempt: record.attempt,
    leaseExpiresAt: new Date(record.leaseExpiresAt ?? 0).toISOString(),
    traceparent: record.traceparent,
  };
}

function taskNotFound(taskId: string): NotFoundError {
  return new NotFoundError("TASK_NOT_FOUND", `task ${taskId} does not exist`, { taskId });
}

function leaseLost(taskId: string): ConflictError {
  return new ConflictError(
    "LEASE_LOST",
    `task ${taskId}: its lease expired or it was delivered again; the reply was not recorded`,
    { taskId },
  );
}
