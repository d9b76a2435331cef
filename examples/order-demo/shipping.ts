/**
 * shipping: a direct-call HTTP service (docs/workers.md, "Direct calls"). Some addresses cannot be served: that is
 * a business refusal (422), not retried, so Baton compensates the order — refund, then release.
 *
 *   PORT=7073 npx tsx examples/order-demo/shipping.ts
 *
 * SHIPPING_FAIL_RATE (default 0.15): share of orders refused for good.
 * LATENCY_MS (default 20-150), EFFECTS_FILE, RANDOM_SEED: see service-kit.ts.
 */
import { serveCommands } from "./http-service.js";
import {
  BusinessError,
  Ledger,
  chance,
  envNumber,
  joinParent,
  onStopSignal,
  simulateLatency,
} from "./service-kit.js";

interface ShipInput {
  orderId: string;
  sku: string;
  qty: number;
  address: string;
}

const FAIL_RATE = envNumber("SHIPPING_FAIL_RATE", 0.15);
const CARRIERS = ["DHL", "UPS", "PostNL", "La Poste"];
const ledger = new Ledger("shipping");

const { server, port } = await serveCommands({
  service: "shipping",
  port: envNumber("PORT", 7073),
  ledger,
  commands: {
    ship: async (input: ShipInput, { key }) => {
      await simulateLatency(undefined, key);
      // Per order with RANDOM_SEED: a retried ship of an address is refused again.
      if (chance(FAIL_RATE, `ship:${key}`)) {
        throw new BusinessError("ADDRESS_UNDELIVERABLE", `no carrier delivers to ${input.address}`);
      }
      const carrier = CARRIERS[input.orderId.length % CARRIERS.length] ?? "DHL";
      return { trackingId: `trk-${key}`, carrier, eta: "2 days" };
    },
  },
});

// Signals are handled before readiness is announced: a supervisor may send one right after.
onStopSignal("shipping", () => new Promise<void>((resolve) => server.close(() => resolve())));
joinParent("shipping", {
  port,
  behaviour: `${Math.round(FAIL_RATE * 100)}% of orders refused for good, compensated`,
});
