import { AmqpTransport } from "./amqp/amqp-transport.js";
import { HttpTransport } from "./http/http-transport.js";
import { LocalTransport } from "./local/local-transport.js";
import { DEFAULT_LEASE_MS, createQueueTransport } from "./queue/queue-transport.js";
import type { Transport, TransportSpec } from "./transport.js";

export type * from "./transport.js";
export { LocalTransport, local } from "./local/local-transport.js";
export { HttpTransport, http, type HttpOptions } from "./http/http-transport.js";
export { queue, DEFAULT_LEASE_MS } from "./queue/queue-transport.js";
export { amqp, AmqpTransport } from "./amqp/amqp-transport.js";
export {
  AmqpEventBridge,
  DEFAULT_EVENTS_EXCHANGE,
  type AmqpEventsOptions,
  type EventBridgeStats,
} from "./amqp/amqp-event-bridge.js";

export interface TransportDefaults {
  /** Lease of queue services that do not set their own. */
  leaseMs?: number;
}

/** Builds the transport that serves one service. */
export function createTransport(
  service: string,
  spec: TransportSpec,
  defaults: TransportDefaults = {},
): Transport {
  switch (spec.kind) {
    case "local":
      return new LocalTransport(service, spec.handlers);
    case "http":
      return new HttpTransport(spec);
    case "queue":
      return createQueueTransport(spec, defaults.leaseMs);
    case "amqp":
      return new AmqpTransport(service, spec, defaults.leaseMs ?? DEFAULT_LEASE_MS);
  }
}
