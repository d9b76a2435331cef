/**
 * inventory: a direct-call HTTP service (docs/workers.md, "Direct calls"). Baton sends `POST /reserve` and, when a
 * later step fails for good, `POST /release` to undo it.
 *
 *   PORT=7071 npx tsx examples/order-demo/inventory.ts
 *
 * INVENTORY_FAIL_RATE (default 0.05): share of calls answered 503, which Baton retries.
 * LATENCY_MS (default 20-150), EFFECTS_FILE: see service-kit.ts.
 */
import { serveCommands } from "./http-service.js";
import {
  Ledger,
  chance,
  envNumber,
  joinParent,
  onStopSignal,
  simulateLatency,
} from "./service-kit.js";

interface ReserveInput {
  orderId: string;
  sku: string;
  qty: number;
}

interface Reservation {
  reservationId: string;
  sku: string;
  qty: number;
}

const FAIL_RATE = envNumber("INVENTORY_FAIL_RATE", 0.05);
/** Units on hold per SKU; the demo's warehouse never runs out. */
const onHold = new Map<string, number>();
const ledger = new Ledger("inventory");

const { server, port } = await serveCommands({
  service: "inventory",
  port: envNumber("PORT", 7071),
  ledger,
  commands: {
    reserve: async (input: ReserveInput, { key }) => {
      await simulateLatency();
      if (chance(FAIL_RATE)) throw new Error("inventory database is busy");
      onHold.set(input.sku, (onHold.get(input.sku) ?? 0) + input.qty);
      // Derived from the key: a retry after a lost answer names the same reservation.
      const reservation: Reservation = {
        reservationId: `res-${key}`,
        sku: input.sku,
        qty: input.qty,
      };
      return reservation;
    },
    release: async (reservation: Reservation) => {
      await simulateLatency();
      if (chance(FAIL_RATE)) throw new Error("inventory database is busy");
      onHold.set(reservation.sku, (onHold.get(reservation.sku) ?? 0) - reservation.qty);
      return { released: reservation.reservationId };
    },
  },
});

// Signals are handled before readiness is announced: a supervisor may send one right after.
onStopSignal("inventory", () => new Promise<void>((resolve) => server.close(() => resolve())));
joinParent("inventory", {
  port,
  behaviour: `${Math.round(FAIL_RATE * 100)}% of calls answer 503, retried`,
});
