/**
 * Workers for queue-served services (docs/workers.md), speaking plain HTTP to the orchestrator.
 *
 * @example
 * import { worker } from "baton/worker";
 * const shipping = worker({
 *   url: "http://127.0.0.1:7070",
 *   service: "shipping",
 *   handlers: { ship: async (order: { orderId: string }, ctx) => ({ trackingId: `t-${ctx.idempotencyKey}` }) },
 * });
 * await shipping.start();
 */
export { worker, Worker } from "./worker.js";
export type { TaskContext, TaskHandler, WorkerOptions, StopOptions } from "./types.js";
export { StepFailedError, BatonError } from "../common/index.js";
export type { Task, Logger } from "../common/index.js";
