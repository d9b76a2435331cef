export * from "./errors.js";
export * from "./clock.js";
export * from "./ids.js";
export * from "./json.js";
export type * from "./logger.js";
export { silentLogger } from "./logger.js";
export * from "./runs.js";
export * from "./events.js";
export type * from "./tasks.js";
