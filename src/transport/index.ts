import { LocalTransport } from "./local/local-transport.js";
import type { Transport, TransportSpec } from "./transport.js";

export type * from "./transport.js";
export { LocalTransport, local } from "./local/local-transport.js";

/** Builds the transport that serves one service. */
export function createTransport(service: string, spec: TransportSpec): Transport {
  switch (spec.kind) {
    case "local":
      return new LocalTransport(service, spec.handlers);
  }
}
