import type { Span } from "@opentelemetry/api";

/**
 * How a command reaches a service. The engine knows only this interface; which transport
 * serves a service is chosen per service when the engine opens (docs/workers.md).
 */
export type Transport = DirectTransport | QueueTransport;

/** A transport whose reply is the answer to the request (local call, HTTP). */
export interface DirectTransport {
  readonly kind: "local" | "http";
  /**
   * Sends one attempt of a command and resolves with the reply's output. Rejects with a
   * BatonError whose `retryable` says whether another attempt may succeed; a TransientError
   * may carry `retryAfterMs`. Must honour `request.signal` (the attempt's timeout).
   */
  send(request: CommandRequest): Promise<unknown>;
  close?(): Promise<void>;
}

export type TransportKind = Transport["kind"];

/**
 * A service reached through the durable queue: the engine stores the command as a task in the
 * same transaction as the journal entry that sends it; workers poll for it and reply later.
 */
export interface QueueTransport {
  readonly kind: "queue";
  /** How long a worker holds a task before it is delivered again. */
  readonly leaseMs: number;
  close?(): Promise<void>;
}

export interface QueueTransportSpec {
  kind: "queue";
  leaseMs?: number;
}

export interface CommandRequest {
  service: string;
  command: string;
  input: unknown;
  runId: string;
  workflow: string;
  seq: number;
  attempt: number;
  /** `{runId}:{seq}`: the same on every attempt, so services can deduplicate. */
  idempotencyKey: string;
  /** W3C trace context naming this attempt's span as the parent, passed to the service. */
  traceparent?: string;
  /** This attempt's span, for the transport's own attributes (a no-op span without an SDK). */
  span?: Span;
  timeoutMs?: number;
  signal: AbortSignal;
}

/** A serialisable description of how to reach a service; the composition root builds the Transport. */
export type TransportSpec = LocalTransportSpec | HttpTransportSpec | QueueTransportSpec;

/** A service reached by direct HTTP calls: `POST {baseUrl}/{command}` (docs/workers.md). */
export interface HttpTransportSpec {
  kind: "http";
  /** Absolute http(s) URL without query or fragment, no trailing slash. */
  baseUrl: string;
  /** Per-attempt timeout when the call sets none (ms). */
  timeoutMs?: number;
  /** Sent with every call, e.g. `Authorization`; the protocol headers of §4 cannot be overridden. */
  headers?: Record<string, string>;
  /** Most sockets kept open to the service at once; further calls queue for a free one. */
  maxConnections?: number;
}

/** Metadata a local handler receives beside its input. */
export interface CommandMeta {
  idempotencyKey: string;
  runId: string;
  workflow: string;
  attempt: number;
  signal: AbortSignal;
}

export type CommandHandler = (input: never, meta: CommandMeta) => unknown;

export interface LocalTransportSpec {
  kind: "local";
  handlers: Record<string, CommandHandler>;
}
