import {
  ConflictError,
  NotFoundError,
  ValidationError,
  decodeJson,
  findNonJson,
  type Clock,
  type ErrorData,
  type Task,
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

/**
 * The worker side of the durable queue (docs/workers.md): long polls that wake on a notification
 * rather than a polling loop, leases, heartbeats, replies. Replies are written to the task row
 * first (durable), then handed to the run, which journals them.
 */
export class TaskQueue {
  private readonly waiters = new Map<string, Set<() => void>>();

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
  ) {}

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
    const deadline = Date.now() + waitMs;
    for (;;) {
      const now = this.clock.now();
      this.stats.sawWorker(service, request.workerId, now);
      const claimed = await this.store.claimTasks({
        service,
        workerId: request.workerId,
        max,
        now,
      });
      if (claimed.length > 0 || Date.now() >= deadline || request.signal?.aborted)
        return claimed.map(toTask);
      // Sleep until notified, until the next task becomes deliverable, or until the deadline.
      const nextAt = await this.store.nextVisibleAt(service);
      const untilNext = nextAt === undefined ? Infinity : Math.max(1, nextAt - this.clock.now());
      await this.waitForWork(
        service,
        Math.min(deadline - Date.now(), untilNext, this.recheckMs),
        request.signal,
      );
    }
  }

  /** New or requeued tasks are durable: wake the pollers of these services. */
  notify(services: readonly string[]): void {
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
