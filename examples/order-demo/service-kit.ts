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
  private readonly records = new Map<string, EffectRecord>();
  private readonly file = process.env.EFFECTS_FILE;
  /** How much of `file` has been read: other processes of the service append to it too. */
  private readBytes = 0;

  constructor(private readonly service: string) {
    this.catchUp();
  }

  /** Runs `effect` once per key; later calls with the key get the first outcome back. */
  async once(
    key: string,
    command: string,
    meta: { runId: string; attempt?: number },
    effect: () => unknown,
  ): Promise<Outcome> {
    let known = this.outcomes.get(key);
    if (!known) {
      // Another process of this service (a worker that died after acting) may have had the key.
      this.catchUp();
      known = this.outcomes.get(key);
    }
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
    this.records.set(key, record);
    if (this.file) {
      appendFileSync(this.file, `${JSON.stringify(record)}\n`);
    }
    return outcome;
  }

  /**
   * Every effect of this service so far, this process's and (through `EFFECTS_FILE`) those of
   * its other processes: how a refund finds the charge of an order whatever worker made it.
   */
  effects(): EffectRecord[] {
    this.catchUp();
    return [...this.records.values()];
  }

  /** Reads what was appended to `EFFECTS_FILE` since the last look (whole lines only). */
  private catchUp(): void {
    if (!this.file || !existsSync(this.file)) return;
    const text = readFileSync(this.file).subarray(this.readBytes);
    const end = text.lastIndexOf(0x0a);
    if (end < 0) return;
    this.readBytes += end + 1;
    for (const line of text.subarray(0, end).toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      const record = JSON.parse(line) as EffectRecord;
      if (record.service !== this.service || this.records.has(record.key)) continue;
      this.records.set(record.key, record);
      this.outcomes.set(record.key, record.outcome);
    }
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

/**
 * A number in [0, 1). With `RANDOM_SEED` set and a `key` given (say an idempotency key and what
 * the draw is for) it is derived from both, so a test that prints its seed can replay the same
 * latencies and failures whatever order the commands arrive in; otherwise Math.random().
 */
export function randomFor(key?: string): number {
  const seed = process.env.RANDOM_SEED;
  if (!seed || key === undefined) return Math.random();
  // FNV-1a over seed and key, then mulberry32's output mix: well spread, cheap, no dependency.
  let h = 0x811c9dc5;
  for (const char of `${seed}:${key}`) h = Math.imul(h ^ char.charCodeAt(0), 0x01000193);
  let t = (h + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** True with probability `rate` (0 never, 1 always); `key` as for randomFor. */
export function chance(rate: number, key?: string): boolean {
  return randomFor(key) < rate;
}

/**
 * Waits like real work does: `LATENCY_MS` is `min-max` (default 20-150) or one number;
 * `variable` names another variable to read instead, `key` as for randomFor.
 */
export function simulateLatency(
  signal?: AbortSignal,
  key?: string,
  variable = "LATENCY_MS",
): Promise<void> {
  const [min = 20, max = min] = (
    process.env[variable] ?? (variable === "LATENCY_MS" ? "20-150" : "0")
  )
    .split("-")
    .map(Number);
  const ms = min + randomFor(key === undefined ? undefined : `${variable}:${key}`) * (max - min);
  return delay(ms, undefined, signal ? { signal } : undefined);
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
