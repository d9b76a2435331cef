/**
 * What the demo's three services share: exactly-once effects by idempotency key, demo latency
 * and failure knobs read from the environment, and the plumbing of running as the demo's child
 * process. The business logic lives in inventory.ts, payments.ts and shipping.ts.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";

/** A refusal the caller must not retry: HTTP 4xx (but 408 and 429), or a StepFailedError in a worker. */
export class BusinessError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 422,
  ) {
    super(message);
  }
}

/** One command's outcome, kept per idempotency key: an effect, or a refusal to repeat. */
export type Outcome =
  { ok: true; output: unknown } | { ok: false; code: string; message: string; status: number };

export interface EffectRecord {
  service: string;
  command: string;
  key: string;
  runId: string;
  outcome: Outcome;
  attempt?: number;
  at: string;
}

/**
 * Remembers what each idempotency key did, so a retried command returns the first answer
 * instead of acting twice. A real service keeps this in its own database, written in the same
 * transaction as the effect; here it is a Map, appended to `EFFECTS_FILE` (one JSON line per
 * outcome) when that is set, and reloaded from it on start — which is also how the demo's
 * tests count effects per key.
 */
export class Ledger {
  private readonly outcomes = new Map<string, Outcome>();
  private readonly file = process.env.EFFECTS_FILE;

  constructor(private readonly service: string) {
    if (this.file && existsSync(this.file)) {
      for (const line of readFileSync(this.file, "utf8").split("\n")) {
        if (!line.trim()) continue;
        const record = JSON.parse(line) as EffectRecord;
        if (record.service === service) this.outcomes.set(record.key, record.outcome);
      }
    }
  }

  /** Runs `effect` once per key; later calls with the key get the first outcome back. */
  async once(
    key: string,
    command: string,
    meta: { runId: string; attempt?: number },
    effect: () => unknown,
  ): Promise<Outcome> {
    const known = this.outcomes.get(key);
    if (known) return known;
    let outcome: Outcome;
    try {
      outcome = { ok: true, output: await effect() };
    } catch (e) {
      // Only refusals are final; anything else may succeed when the caller retries.
      if (!(e instanceof BusinessError)) throw e;
      outcome = { ok: false, code: e.code, message: e.message, status: e.status };
    }
    // A concurrent retry of the same key may have finished first: its outcome stands.
    const raced = this.outcomes.get(key);
    if (raced) return raced;
    this.outcomes.set(key, outcome);
    const record: EffectRecord = {
      service: this.service,
      command,
      key,
      runId: meta.runId,
      outcome,
      ...(meta.attempt !== undefined ? { attempt: meta.attempt } : {}),
      at: new Date().toISOString(),
    };
    if (this.file) appendFileSync(this.file, `${JSON.stringify(record)}\n`);
    return outcome;
  }

  /** Every outcome so far, for the `/_effects` debug endpoint. */
  list(): Array<{ key: string; outcome: Outcome }> {
    return [...this.outcomes].map(([key, outcome]) => ({ key, outcome }));
  }
}

/** A number from the environment, e.g. `SHIPPING_FAIL_RATE=0.15`. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name}=${raw} is not a number`);
  return value;
}

/** True with probability `rate` (0 never, 1 always). */
export function chance(rate: number): boolean {
  return Math.random() < rate;
}

/** Waits like real work does: `LATENCY_MS` is `min-max` (default 20-150) or one number. */
export function simulateLatency(signal?: AbortSignal): Promise<void> {
  const [min = 20, max = min] = (process.env.LATENCY_MS ?? "20-150").split("-").map(Number);
  return delay(min + Math.random() * (max - min), undefined, signal ? { signal } : undefined);
}

/**
 * Plumbing for running under `baton demo`: tell the parent we serve (and how we misbehave, for
 * its banner), and exit when the parent goes away — even if it was SIGKILLed — since its IPC
 * channel closes then.
 */
export function joinParent(service: string, about: { port?: number; behaviour: string }): void {
  if (about.port !== undefined) {
    process.stdout.write(`${service} listening on http://127.0.0.1:${about.port}\n`);
  }
  if (!process.send) return;
  process.send({ service, ready: true, ...about });
  process.once("disconnect", () => process.exit(0));
}

/** Runs `stop` once on SIGINT or SIGTERM, then exits; a second signal exits at once. */
export function onStopSignal(service: string, stop: () => Promise<void>): void {
  const handle = (): void => {
    process.off("SIGINT", handle).off("SIGTERM", handle);
    process.once("SIGINT", () => process.exit(130)).once("SIGTERM", () => process.exit(143));
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`${service} could not stop cleanly: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handle).on("SIGTERM", handle);
}
