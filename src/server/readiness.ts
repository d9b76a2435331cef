import { BatonError } from "../common/index.js";
import { asStoreUnavailable } from "./store-unavailable.js";

export interface ReadinessOptions {
  /** How long an answer is reused: probes from many load balancers cost one query. */
  cacheMs: number;
  /** How long the store may take to answer before it counts as unreachable. */
  timeoutMs: number;
}

/**
 * Whether the store answers, asked at most once per `cacheMs` and never for longer than
 * `timeoutMs`: a database that does not answer at all (a cut network) makes /readyz say
 * 503 within that time instead of hanging the probe.
 */
export class StoreReadiness {
  private last: { at: number; failure: BatonError | undefined } | undefined;
  private inFlight: Promise<BatonError | undefined> | undefined;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly options: ReadinessOptions,
  ) {}

  /** Undefined when the store answered, else why not (STORE_UNAVAILABLE, or what it threw). */
  check(): Promise<BatonError | undefined> {
    if (this.last && Date.now() - this.last.at < this.options.cacheMs) {
      return Promise.resolve(this.last.failure);
    }
    this.inFlight ??= this.ask().then((failure) => {
      this.last = { at: Date.now(), failure };
      this.inFlight = undefined;
      return failure;
    });
    return this.inFlight;
  }

  private async ask(): Promise<BatonError | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.options.timeoutMs);
      timer.unref();
    });
    try {
      const answer = await Promise.race([this.probe().then(() => "ok" as const), timedOut]);
      if (answer === "ok") return undefined;
      return new BatonError(
        "STORE_UNAVAILABLE",
        `the database did not answer within ${this.options.timeoutMs} ms`,
        { retryable: true },
      );
    } catch (e) {
      return (
        asStoreUnavailable(e) ??
        new BatonError("STORE_UNAVAILABLE", "the store does not answer", {
          retryable: true,
          cause: e,
        })
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
