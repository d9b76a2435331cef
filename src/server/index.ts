export {
  createServer,
  DEFAULT_BODY_LIMIT,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type BatonServer,
  type ServerOptions,
} from "./app.js";
export { onShutdownSignal } from "./shutdown-signals.js";
export { checkSecurityOptions, type SecurityOptions } from "./security-options.js";
export { parseAllowedOrigins } from "./request-guards.js";
