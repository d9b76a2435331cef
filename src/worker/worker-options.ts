import { hostname } from "node:os";
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from "undici";
import { ValidationError } from "../common/index.js";
import { BatonClient } from "../client/index.js";
import type { TaskHandler, WorkerOptions } from "./types.js";

const DEFAULT_CONCURRENCY = 10;
const DEFAULT_POLL_WAIT_SECONDS = 20;
/** The server's bounds for a poll (docs/workers.md): asking for more is refused. */
const MAX_TASKS_PER_POLL = 100;
const MAX_POLL_WAIT_SECONDS = 60;

/** A worker's options, checked, with their defaults filled in. */
export interface ResolvedWorkerOptions {
  service: string;
  workerId: string;
  handlers: Record<string, TaskHandler>;
  concurrency: number;
  pollWaitSeconds: number;
  /** undefined: renewal off; `{}`: a third of the lease; `{ intervalMs }`: fixed. */
  leaseRenewal: { intervalMs?: number } | undefined;
}

/** Mistakes in a worker's options are found when it is made, not when its first task arrives. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const service: unknown = options.service;
  if (typeof service !== "string" || service.length === 0) {
    throw invalid("worker: service must be the service's name");
  }
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_TASKS_PER_POLL) {
    throw invalid(
      `worker ${service}: concurrency must be a whole number from 1 to ${MAX_TASKS_PER_POLL}`,
    );
  }
  const pollWaitSeconds = options.pollWaitSeconds ?? DEFAULT_POLL_WAIT_SECONDS;
  if (
    !Number.isFinite(pollWaitSeconds) ||
    pollWaitSeconds < 0 ||
    pollWaitSeconds > MAX_POLL_WAIT_SECONDS
  ) {
    throw invalid(`worker ${service}: pollWaitSeconds must be from 0 to ${MAX_POLL_WAIT_SECONDS}`);
  }
  const handlers: unknown = options.handlers;
  if (typeof handlers !== "object" || handlers === null) {
    throw invalid(`worker ${service}: handlers must be an object with one function per command`);
  }
  for (const [command, handler] of Object.entries(handlers)) {
    if (typeof handler !== "function") {
      throw invalid(`worker ${service}: the handler of ${command} is not a function`);
    }
  }
  const workerId =
    options.workerId ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  if (workerId.length === 0 || workerId.length > 200) {
    throw invalid(`worker ${service}: workerId must be 1–200 characters`);
  }
  return {
    service,
    workerId,
    handlers: { ...(handlers as Record<string, TaskHandler>) },
    concurrency,
    pollWaitSeconds,
    leaseRenewal: leaseRenewalOf(options.leaseRenewal),
  };
}

/**
 * The worker's client: the one it was given, or one on a connection pool of its own. Its own
 * pool rather than global fetch's, so that `stop()` closes every socket the worker opened
 * instead of leaving idle ones that hold an orchestrator's shutdown open until they time out.
 */
export function clientFor(options: WorkerOptions): { client: BatonClient; pool?: Agent } {
  if (options.client) return { client: options.client };
  const pool = new Agent();
  const pooledFetch = (input: string, init: RequestInit): ReturnType<typeof undiciFetch> =>
    undiciFetch(input, { ...(init as unknown as UndiciRequestInit), dispatcher: pool });
  const client = new BatonClient({
    ...(options.url !== undefined ? { url: options.url } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    // undici's fetch is the one Node's global fetch is built on; only the type names differ.
    fetch: pooledFetch as unknown as typeof fetch,
  });
  return { client, pool };
}

function leaseRenewalOf(
  option: WorkerOptions["leaseRenewal"],
): ResolvedWorkerOptions["leaseRenewal"] {
  if (option === false) return undefined;
  if (option === undefined || option === true) return {};
  if (!Number.isFinite(option.intervalMs) || option.intervalMs < 10) {
    throw invalid("worker: leaseRenewal.intervalMs must be a number of ms, at least 10");
  }
  return { intervalMs: option.intervalMs };
}

function invalid(message: string): ValidationError {
  return new ValidationError("INVALID_ARGUMENT", message);
}
