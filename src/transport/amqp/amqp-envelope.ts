import type { Task } from "../../common/index.js";

/**
 * The messages Baton and a service exchange over RabbitMQ (docs/rabbitmq.md, "The envelope").
 * Pure: what a command looks like on the wire, and what a reply means.
 */

/** The properties of one published command (amqplib's publish options, the ones Baton sets). */
export interface CommandMessage {
  content: Buffer;
  options: {
    persistent: true;
    contentType: "application/json";
    correlationId: string;
    replyTo: string;
    /** The command's name, also in the `baton-command` header. */
    type: string;
    /** This delivery (a republished command keeps its correlation id, gets a new message id). */
    messageId: string;
    timestamp: number;
    headers: Record<string, string | number>;
  };
}

/** The reply queue of a node: durable, consumed by that node whenever it runs. */
export function replyQueueName(nodeId: string): string {
  return `baton.replies.${nodeId}`;
}

/** The message that carries one delivery of a command: body = the input as JSON. */
export function commandMessage(task: Task, replyTo: string, now: number): CommandMessage {
  return {
    content: Buffer.from(JSON.stringify(task.input === undefined ? null : task.input)),
    options: {
      persistent: true,
      contentType: "application/json",
      correlationId: task.idempotencyKey,
      replyTo,
      type: task.command,
      messageId: task.taskId,
      timestamp: Math.floor(now / 1000),
      headers: {
        "baton-command": task.command,
        "baton-run-id": task.runId,
        "baton-workflow": task.workflow,
        "baton-attempt": task.attempt,
        ...(task.traceparent ? { traceparent: task.traceparent } : {}),
      },
    },
  };
}

/** What a reply says: the command's output, its failure, or why it cannot be read. */
export type Reply =
  | { kind: "output"; output: unknown }
  | { kind: "error"; error: { message: string; code?: string }; retryable: boolean }
  | { kind: "invalid"; reason: string };

/** Replies larger than this are refused (a reply is recorded in the run's journal). */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * Reads a reply body: `{"output": any}` or `{"error": {"message", "code"?}, "retryable"?: bool}`
 * (retryable unless it says `false`, as a worker's failure over HTTP). Anything else is
 * `invalid`, with a reason precise enough to fix the service by; it never throws.
 */
export function decodeReply(content: Buffer): Reply {
  if (content.length > MAX_REPLY_BYTES) {
    return {
      kind: "invalid",
      reason: `the reply is ${content.length} bytes, more than ${MAX_REPLY_BYTES}`,
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(content.toString("utf8"));
  } catch (e) {
    return { kind: "invalid", reason: `the reply is not JSON (${(e as Error).message})` };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { kind: "invalid", reason: 'the reply must be a JSON object with "output" or "error"' };
  }
  const reply = body as Record<string, unknown>;
  const hasOutput = Object.hasOwn(reply, "output");
  const hasError = Object.hasOwn(reply, "error");
  if (hasOutput && hasError)
    return { kind: "invalid", reason: 'the reply has both "output" and "error"' };
  if (hasOutput) return { kind: "output", output: reply.output };
  if (!hasError) return { kind: "invalid", reason: 'the reply has neither "output" nor "error"' };
  const error = reply.error;
  if (typeof error !== "object" || error === null || Array.isArray(error)) {
    return { kind: "invalid", reason: '"error" must be an object {"message", "code"?}' };
  }
  const { message, code } = error as Record<string, unknown>;
  if (typeof message !== "string")
    return { kind: "invalid", reason: '"error.message" must be a string' };
  if (code !== undefined && (typeof code !== "string" || !/^[A-Z][A-Z0-9_]{0,63}$/.test(code))) {
    return {
      kind: "invalid",
      reason: '"error.code" must be an UPPER_SNAKE_CASE string of at most 64 characters',
    };
  }
  const retryable = reply.retryable;
  if (retryable !== undefined && typeof retryable !== "boolean")
    return { kind: "invalid", reason: '"retryable" must be true or false' };
  return {
    kind: "error",
    error: code === undefined ? { message } : { message, code },
    retryable: retryable !== false,
  };
}

/** The correlation id of a reply, if it names a command at all. */
export function replyKey(correlationId: unknown): string | undefined {
  return typeof correlationId === "string" &&
    correlationId.length > 0 &&
    correlationId.length <= 400
    ? correlationId
    : undefined;
}
