import type { Span } from "@opentelemetry/api";
import type { Logger, Task } from "../common/index.js";

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
  /** Set when Baton itself carries the tasks on to a broker (amqp()): the broker's name. */
  readonly via?: "amqp";
  /**
   * Called once the engine has recovered its runs: a transport that carries tasks on itself (a
   * broker relay) takes them through `port`, as a worker would.
   */
  attach?(port: TaskPort): void;
  /** What a run waiting on this service waits on, for its `waitingOn.reason`. */
  describe?(): string;
  close?(): Promise<void>;
}

/**
 * The durable queue as a relay inside Baton sees it: the worker side of docs/workers.md, plus a
 * look-up of a command's current delivery by its idempotency key (a broker's correlation id).
 */
export interface TaskPort {
  /** This node's id ("local" on a single node): names its reply queue. */
  readonly nodeId: string;
  readonly logger: Logger;
  poll(
    service: string,
    request: { workerId: string; max?: number; waitMs?: number; signal?: AbortSignal },
  ): Promise<Task[]>;
  complete(taskId: string, output: unknown): Promise<void>;
  fail(
    taskId: string,
    error: { message: string; code?: string; type?: string },
    retryable: boolean,
  ): Promise<void>;
  /** The command's task by idempotency key: its status and current delivery, if any. */
  findTask(
    taskKey: string,
  ): Promise<{ status: string; deliveryId: string | null; service: string } | undefined>;
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
export type TransportSpec =
  LocalTransportSpec | HttpTransportSpec | QueueTransportSpec | AmqpTransportSpec;

/** A service reached through a RabbitMQ queue (AMQP 0-9-1); see docs/rabbitmq.md. */
export interface AmqpTransportSpec {
  kind: "amqp";
  /** `amqp://` or `amqps://` URL of the broker. */
  url: string;
  /** The service's command queue (asserted durable). */
  queue: string;
  /**
   * Where services reply (asserted durable): `baton.replies.{nodeId}` unless set — set it when
   * several Baton deployments share one broker (a single node's id is `local`).
   */
  replyQueue?: string;
  /** How long a published command may wait for its reply before it is published again (ms). */
  leaseMs?: number;
  /** Commands published at once at most, awaiting their confirms (default 100). */
  maxInFlight?: number;
}

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
