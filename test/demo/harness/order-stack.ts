import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BatonClient, type Run } from "../../../src/client/index.js";
import type { EffectRecord } from "../../../examples/order-demo/service-kit.js";
import type { DeliveryRecord } from "../../../examples/order-demo/payments.js";
import { EXAMPLE_DIR, type ProcessGroup, type TestProcess } from "./processes.js";

export type { EffectRecord, DeliveryRecord };

export interface OrderStackOptions {
  /** Temp directory for the database and the services' effect logs. */
  dir: string;
  shippingFailRate?: number;
  inventoryFailRate?: number;
  paymentsFailRate?: number;
  /** `min-max` ms each command takes (default 5-30, quicker than the demo's). */
  latencyMs?: string;
  /** Lease of payments tasks, ms. */
  leaseMs?: number;
  /** Payments worker processes to start with (default 1). */
  workers?: number;
  /** The `--workflows` file (default the demo's examples/order-demo/workflows.ts). */
  workflows?: string;
  /** More environment for the orchestrator (the workflows file reads it). */
  orchestratorEnv?: Record<string, string>;
  /** Environment of every payments worker; `startWorker(env)` overrides it. */
  workerEnv?: Record<string, string>;
  /** `RANDOM_SEED` of the services: their latencies and failures follow it (service-kit.ts). */
  seed?: string;
}

const SERVICE_NAMES = ["inventory", "payments", "shipping"] as const;

/**
 * The order saga as real processes on loopback: inventory and shipping (direct HTTP), payments
 * workers (the durable queue), and `baton dev --workflows examples/order-demo/workflows.ts`.
 * Each service logs its effects per idempotency key to a file in `dir`.
 */
export class OrderStack {
  orchestrator!: TestProcess;
  inventory!: TestProcess;
  shipping!: TestProcess;
  readonly workers: TestProcess[] = [];
  url = "";
  client!: BatonClient;
  private serviceUrls: Record<string, string> = {};
  private workerCount = 0;

  private constructor(
    private readonly group: ProcessGroup,
    readonly options: OrderStackOptions,
  ) {}

  static async start(group: ProcessGroup, options: OrderStackOptions): Promise<OrderStack> {
    const stack = new OrderStack(group, options);
    const [inventory, shipping] = await Promise.all([
      stack.startService("inventory", {
        INVENTORY_FAIL_RATE: String(options.inventoryFailRate ?? 0),
      }),
      stack.startService("shipping", { SHIPPING_FAIL_RATE: String(options.shippingFailRate ?? 0) }),
    ]);
    stack.inventory = inventory.process;
    stack.shipping = shipping.process;
    stack.serviceUrls = {
      INVENTORY_URL: `http://127.0.0.1:${inventory.port}`,
      SHIPPING_URL: `http://127.0.0.1:${shipping.port}`,
    };
    await stack.startOrchestrator(0);
    await Promise.all(Array.from({ length: options.workers ?? 1 }, () => stack.startWorker()));
    return stack;
  }

  get dbUrl(): string {
    return `sqlite:${join(this.options.dir, "baton.db")}`;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** `baton dev` on the stack's database; port 0 picks one, a given port restarts on it. */
  async startOrchestrator(port: number): Promise<TestProcess> {
    this.orchestrator = this.group.startBaton(
      "orchestrator",
      [
        "dev",
        "--workflows",
        this.options.workflows ?? join(EXAMPLE_DIR, "workflows.ts"),
        "--db",
        this.dbUrl,
        "--port",
        String(port),
      ],
      {
        ...this.serviceUrls,
        ...(this.options.leaseMs !== undefined
          ? { PAYMENTS_LEASE_MS: String(this.options.leaseMs) }
          : {}),
        ...this.options.orchestratorEnv,
      },
    );
    const [, url = ""] = await this.orchestrator.waitForOutput(
      /listening on (http:\/\/[\d.]+:\d+)/,
    );
    this.url = url;
    this.client = new BatonClient({ url });
    return this.orchestrator;
  }

  /** One more payments worker process; `env` overrides its knobs (say a latency to hold tasks). */
  async startWorker(env: Record<string, string> = {}): Promise<TestProcess> {
    const { process: worker } = await this.startService(`payments-${++this.workerCount}`, {
      BATON_URL: this.url,
      PAYMENTS_FAIL_RATE: String(this.options.paymentsFailRate ?? 0),
      DELIVERIES_FILE: join(this.options.dir, "payments-deliveries.jsonl"),
      ...this.options.workerEnv,
      ...env,
    });
    this.workers.push(worker);
    return worker;
  }

  /** Every effect the services logged, oldest first. */
  effects(): EffectRecord[] {
    return SERVICE_NAMES.flatMap((name) => {
      const file = this.effectsFile(name);
      if (!existsSync(file)) return [];
      return readJsonLines<EffectRecord>(file);
    });
  }

  /** Every task the payments workers received, in order, with its attempt (DELIVERIES_FILE). */
  deliveries(): DeliveryRecord[] {
    const file = join(this.options.dir, "payments-deliveries.jsonl");
    return existsSync(file) ? readJsonLines<DeliveryRecord>(file) : [];
  }

  private effectsFile(service: string): string {
    return join(this.options.dir, `${service}-effects.jsonl`);
  }

  private async startService(
    name: string,
    env: Record<string, string>,
  ): Promise<{ process: TestProcess; port: number | undefined }> {
    const script = name.startsWith("payments") ? "payments" : name;
    const service = this.group.startTs(name, join(EXAMPLE_DIR, `${script}.ts`), [], {
      PORT: "0",
      EFFECTS_FILE: this.effectsFile(script),
      LATENCY_MS: this.options.latencyMs ?? "5-30",
      LOG_LEVEL: "warn",
      ...(this.options.seed !== undefined ? { RANDOM_SEED: this.options.seed } : {}),
      ...env,
    });
    const ready = await service.waitForReady();
    return { process: service, port: ready.port };
  }
}

/** A file of JSON lines that processes append to: a last line still being written is left out. */
function readJsonLines<T>(file: string): T[] {
  const lines = readFileSync(file, "utf8").split("\n");
  return lines
    .slice(0, -1)
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as T);
}

/**
 * What the services did must match how each run ended: a completed order reserved, charged
 * and shipped once; a compensated one reserved and charged once, shipped never, and released
 * and refunded once; and no idempotency key took effect twice. Returns the mismatches.
 */
export function inconsistencies(runs: readonly Run[], effects: readonly EffectRecord[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const effect of effects) {
    const id = `${effect.service}:${effect.key}`;
    if (seen.has(id)) problems.push(`${effect.service} acted twice on key ${effect.key}`);
    seen.add(id);
  }
  const expected: Record<string, Record<string, number>> = {
    completed: { reserve: 1, charge: 1, ship: 1, release: 0, refund: 0 },
    compensated: { reserve: 1, charge: 1, ship: 0, release: 1, refund: 1 },
  };
  for (const run of runs) {
    const want = expected[run.status];
    if (!want) {
      problems.push(`run ${run.runId} ended ${run.status}: ${JSON.stringify(run.error)}`);
      continue;
    }
    const done = effects.filter((e) => e.runId === run.runId && e.outcome.ok);
    for (const [command, count] of Object.entries(want)) {
      const actual = done.filter((e) => e.command === command).length;
      if (actual !== count) {
        problems.push(
          `run ${run.runId} (${run.status}): ${command} took effect ${actual} times, expected ${count}`,
        );
      }
    }
  }
  return problems;
}

/** An order for the demo's placeOrder workflow. */
export function anOrder(orderId: string): {
  orderId: string;
  sku: string;
  qty: number;
  amount: number;
  address: string;
} {
  return { orderId, sku: "LAMP-01", qty: 2, amount: 78, address: "12 Elm Street, Springfield" };
}
