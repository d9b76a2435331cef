import type { Agent } from "undici";
import {
  BatonError,
  TransientError,
  silentLogger,
  toBatonError,
  type Logger,
  type Task,
} from "../common/index.js";
import type { BatonClient } from "../client/index.js";
import { backoffMs, pause } from "./backoff.js";
import { executeTask, type ExecutionSettings } from "./task-execution.js";
import type { StopOptions, WorkerOptions } from "./types.js";
import { clientFor, resolveWorkerOptions } from "./worker-options.js";

const FIRST_POLL_RETRY_MS = 200;
const MAX_POLL_RETRY_MS = 10_000;

/**
 * Creates a worker for a queue-served service (docs/workers.md). It long-polls the orchestrator for
 * commands, runs up to `concurrency` handlers at once, renews their leases while they run, and
 * reports each outcome, retrying while the orchestrator is unreachable. Call `start()` to begin
 * and `stop()` to finish the tasks in hand and leave.
 *
 * @example
 * import { worker } from "baton/worker";
 * import { StepFailedError } from "baton";
 *
 * const payments = worker({
 *   service: "payments",
 *   handlers: {
 *     charge: async (input: { orderId: string; amount: number }, ctx) => {
 *       if (input.amount > 10_000) throw new StepFailedError("over the limit", { code: "LIMIT" });
 *       return gateway.charge(input, { idempotencyKey: ctx.idempotencyKey, signal: ctx.signal });
 *     },
 *   },
 * });
 * await payments.start();
 * process.once("SIGTERM", () => void payments.stop());
 */
export function worker(options: WorkerOptions): Worker {
  return new Worker(options);
}

/** A running (or stopped) worker; see {@link worker}. */
export class Worker {
  readonly service: string;
  readonly workerId: string;
  private readonly client: BatonClient;
  /** The worker's own connection pool, when it made its own client; closed by `stop()`. */
  private readonly pool: Agent | undefined;
  private readonly concurrency: number;
  private readonly pollWaitSeconds: number;
  private readonly log: Logger;
  private readonly settings: ExecutionSettings;
  private readonly running = new Set<Promise<void>>();
  /** Aborts the long poll in progress when stopping. */
  private readonly pollAbort = new AbortController();
  /** Aborts handlers and report retries when stop's patience runs out. */
  private readonly giveUp = new AbortController();
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private wakePoller: (() => void) | undefined;

  constructor(options: WorkerOptions) {
    const resolved = resolveWorkerOptions(options);
    const { client, pool } = clientFor(options);
    this.service = resolved.service;
    this.workerId = resolved.workerId;
    this.concurrency = resolved.concurrency;
    this.pollWaitSeconds = resolved.pollWaitSeconds;
    this.client = client;
    this.pool = pool;
    this.log = (options.logger ?? silentLogger).child({
      service: this.service,
      workerId: this.workerId,
    });
    this.settings = {
      client,
      workerId: this.workerId,
      handlers: resolved.handlers,
      leaseRenewal: resolved.leaseRenewal,
      log: this.log,
      giveUp: this.giveUp.signal,
    };
  }

  /** Tasks whose handlers (or reports) are in progress. */
  get inFlight(): number {
    return this.running.size;
  }

  get isRunning(): boolean {
    return this.state === "running";
  }

  /** Starts polling. Resolves at once: the orchestrator need not be up yet; polls retry until it is. */
  async start(): Promise<void> {
    if (this.state !== "new")
      throw new BatonError(
        "WORKER_STARTED",
        `worker ${this.workerId} was already started; make a new one`,
      );
    this.state = "running";
    this.log.info({ concurrency: this.concurrency }, "worker started");
    this.loop = this.pollLoop();
  }

  /**
   * Stops taking tasks, lets the tasks in hand finish and their outcomes be reported, then
   * resolves. With `abortAfterMs`, handlers still running after that long see their signal abort.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.shutDown(options);
    return this.stopping;
  }

  private async shutDown(options: StopOptions): Promise<void> {
    const wasRunning = this.state === "running";
    this.state = "stopping";
    this.pollAbort.abort(new BatonError("WORKER_STOPPING", `worker ${this.workerId} is stopping`));
    this.wakePoller?.();
    const patience =
      options.abortAfterMs === undefined
        ? undefined
        : setTimeout(() => this.giveUp.abort(this.stoppedBeforeFinishing()), options.abortAfterMs);
    try {
      await this.loop;
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
    } finally {
      clearTimeout(patience);
      await this.pool?.close();
      this.state = "stopped";
      if (wasRunning) this.log.info({}, "worker stopped");
    }
  }

  /** Retryable: the task is fine, only this worker is leaving; another worker may take it. */
  private stoppedBeforeFinishing(): TransientError {
    return new TransientError(`worker ${this.workerId} stopped before the task finished`, {
      code: "WORKER_STOPPING",
    });
  }

  private async pollLoop(): Promise<void> {
    let failures = 0;
    while (this.state === "running") {
      await this.freeSlot();
      if (this.state !== "running") return;
      let tasks: Task[];
      try {
        tasks = await this.client.pollTasks(this.service, {
          workerId: this.workerId,
          max: this.concurrency - this.running.size,
          waitSeconds: this.pollWaitSeconds,
          signal: this.pollAbort.signal,
        });
      } catch (e) {
        if (this.pollAbort.signal.aborted) return;
        failures++;
        const error = toBatonError(e);
        // A refused poll (wrong token, unknown service) is a deployment problem, worth an error;
        // an unreachable orchestrator is an outage the worker rides out.
        const level = error.retryable ? (failures === 1 ? "warn" : "debug") : "error";
        this.log[level]({ code: error.code, failures }, `poll failed, retrying: ${error.message}`);
        await pause(
          backoffMs(failures, FIRST_POLL_RETRY_MS, MAX_POLL_RETRY_MS),
          this.pollAbort.signal,
        );
        continue;
      }
      if (failures > 0) this.log.info({ failures }, "polling again");
      failures = 0;
      // Tasks that arrive as stop begins are leased to this worker already: run them rather than
      // leave them to wait out their leases.
      for (const task of tasks) this.execute(task);
    }
  }

  private execute(task: Task): void {
    const execution = executeTask(task, this.settings)
      .catch((e: unknown) =>
        this.log.error({ err: e, taskId: task.taskId }, "task execution failed"),
      )
      .finally(() => {
        this.running.delete(execution);
        this.wakePoller?.();
      });
    this.running.add(execution);
  }

  /** Resolves when a handler slot is free (or the worker is stopping). */
  private freeSlot(): Promise<void> {
    if (this.running.size < this.concurrency) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakePoller = () => {
        this.wakePoller = undefined;
        resolve();
      };
    });
  }
}
