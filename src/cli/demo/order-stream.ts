import { randomBytes } from "node:crypto";
import type { BatonClient } from "../../client/index.js";
import { toBatonError, type BatonError } from "../../common/index.js";

/** The demo's order, as examples/order-demo/workflows.ts expects it. */
export interface DemoOrder {
  orderId: string;
  sku: string;
  qty: number;
  amount: number;
  address: string;
}

const CATALOGUE = [
  { sku: "LAMP-01", price: 39 },
  { sku: "CHAIR-07", price: 129 },
  { sku: "DESK-12", price: 349 },
  { sku: "MUG-03", price: 12 },
  { sku: "RUG-05", price: 89 },
];
const ADDRESSES = [
  "12 Elm Street, Springfield",
  "4 Rue de la Paix, Paris",
  "221B Baker Street, London",
  "Keizersgracht 123, Amsterdam",
  "1600 Amphitheatre Pkwy, Mountain View",
];

/**
 * A steady stream of orders, started through the HTTP API as any client would, at about
 * `perSecond` (each gap drawn from ±33 % of the mean, so the load looks organic). Order ids
 * carry a per-session tag, so a restarted demo on the same database starts new runs.
 */
export class OrderStream {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly session = randomBytes(3).toString("hex");
  private count = 0;
  private stopped = false;

  constructor(
    private readonly client: BatonClient,
    private readonly perSecond: number,
    private readonly onError: (error: BatonError, order: DemoOrder) => void,
  ) {}

  /** The first order's run id, for the hints printed at startup. */
  get sampleOrderId(): string {
    return `order-${this.session}-1`;
  }

  start(): void {
    if (this.perSecond > 0) this.scheduleNext();
  }

  /** Stops making orders and waits for the start requests already sent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    const meanMs = 1_000 / this.perSecond;
    this.timer = setTimeout(
      () => {
        this.place(this.nextOrder());
        this.scheduleNext();
      },
      meanMs * (0.67 + Math.random() * 0.66),
    );
  }

  private place(order: DemoOrder): void {
    const request = this.client
      .startRun("placeOrder", order, { runId: order.orderId })
      .then(
        () => undefined,
        (e: unknown) => {
          if (!this.stopped) this.onError(toBatonError(e), order);
        },
      )
      .finally(() => this.inFlight.delete(request));
    this.inFlight.add(request);
  }

  private nextOrder(): DemoOrder {
    this.count++;
    const item = pick(CATALOGUE);
    const qty = 1 + Math.floor(Math.random() * 3);
    return {
      orderId: `order-${this.session}-${this.count}`,
      sku: item.sku,
      qty,
      amount: item.price * qty,
      address: pick(ADDRESSES),
    };
  }
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}
