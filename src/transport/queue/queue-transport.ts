import { ValidationError } from "../../common/index.js";
import type { QueueTransport, QueueTransportSpec } from "../transport.js";

/** Leases last 30 s unless the service or the server says otherwise. */
export const DEFAULT_LEASE_MS = 30_000;

/**
 * A service whose workers poll the durable queue, in any language.
 *
 * @example
 * const payments = service("payments", queue({ leaseMs: 10_000 }));
 */
export function queue(options: { leaseMs?: number } = {}): QueueTransportSpec {
  if (
    options.leaseMs !== undefined &&
    (!Number.isInteger(options.leaseMs) || options.leaseMs < 100)
  ) {
    throw new ValidationError(
      "INVALID_DEFINITION",
      `queue leaseMs must be a whole number of ms, at least 100`,
    );
  }
  return options.leaseMs === undefined
    ? { kind: "queue" }
    : { kind: "queue", leaseMs: options.leaseMs };
}

export function createQueueTransport(
  spec: QueueTransportSpec,
  defaultLeaseMs = DEFAULT_LEASE_MS,
): QueueTransport {
  return { kind: "queue", leaseMs: spec.leaseMs ?? defaultLeaseMs };
}
