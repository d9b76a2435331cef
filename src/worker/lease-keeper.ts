import { BatonError, toBatonError, type Logger } from "../common/index.js";
import { BatonClientError, type BatonClient } from "../client/index.js";

const MIN_INTERVAL_MS = 100;
/** While the orchestrator is unreachable, try again at least this often. */
const UNREACHABLE_RETRY_MS = 1_000;

/**
 * Keeps one task's lease while its handler runs: heartbeats at a third of the time the lease
 * has left (so two can go missing before it expires), or at a fixed interval. A 409 or 404 means
 * the lease is gone and the task belongs to another delivery: the keeper calls `onLost`, which
 * aborts the handler. An unreachable orchestrator is not a lost lease: the keeper keeps trying,
 * faster as the expiry nears. Times are compared with this machine's clock; a server clock far
 * ahead of it makes heartbeats late.
 */
export class LeaseKeeper {
  private expiresAt: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private lostWith: BatonError | undefined;

  constructor(
    private readonly client: BatonClient,
    private readonly taskId: string,
    leaseExpiresAt: string,
    private readonly fixedIntervalMs: number | undefined,
    private readonly onLost: (error: BatonError) => void,
    private readonly log: Logger,
  ) {
    this.expiresAt = Date.parse(leaseExpiresAt);
  }

  get isLost(): boolean {
    return this.lostWith !== undefined;
  }

  private lostError(): BatonError | undefined {
    return this.lostWith;
  }

  /** Starts automatic renewal. */
  start(): void {
    this.schedule(this.regularDelay());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * A heartbeat on the handler's request. Rejects with `LEASE_LOST` if the lease is gone; an
   * unreachable orchestrator is only logged, since automatic renewal keeps trying.
   */
  async beat(details?: unknown): Promise<void> {
    if (this.lostWith) throw this.lostWith;
    try {
      await this.send(details);
    } catch (e) {
      // send() records a lost lease before rethrowing; read it anew after the await.
      const lost = this.lostError();
      if (lost) throw lost;
      this.log.warn({ err: e }, "heartbeat not delivered; renewal will try again");
    }
  }

  private async tick(): Promise<void> {
    try {
      await this.send(undefined);
      this.schedule(this.regularDelay());
    } catch (e) {
      if (this.lostWith) return;
      const error = toBatonError(e);
      this.log.warn(
        { code: error.code },
        `heartbeat not delivered, trying again: ${error.message}`,
      );
      this.schedule(Math.min(this.regularDelay(), UNREACHABLE_RETRY_MS));
    }
  }

  private async send(details: unknown): Promise<void> {
    try {
      const { leaseExpiresAt } = await this.client.heartbeatTask(this.taskId, details);
      const next = leaseExpiresAt === undefined ? NaN : Date.parse(leaseExpiresAt);
      if (!Number.isNaN(next)) this.expiresAt = next;
    } catch (e) {
      const error = toBatonError(e);
      const status = error instanceof BatonClientError ? error.httpStatus : undefined;
      if ((status === 409 || status === 404) && !this.lostWith) {
        this.lostWith = new BatonError(
          "LEASE_LOST",
          `task ${this.taskId}: the lease was lost (${error.message}); its result will not be recorded`,
          { cause: error },
        );
        this.stop();
        this.onLost(this.lostWith);
      }
      throw error;
    }
  }

  private regularDelay(): number {
    if (this.fixedIntervalMs !== undefined) return this.fixedIntervalMs;
    const left = this.expiresAt - Date.now();
    // Past the expiry (or with no expiry to go by) only the server can tell whether it is lost.
    if (Number.isNaN(left) || left <= 0) return UNREACHABLE_RETRY_MS;
    return Math.max(MIN_INTERVAL_MS, left / 3);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }
}
