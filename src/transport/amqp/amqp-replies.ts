import { decodeReply } from "./amqp-envelope.js";

/**
 * What a relay does with a reply: pure decisions, tested as tables (amqp-replies.test.ts). The
 * relay (amqp-transport.ts) reads the task, asks, does it, and tells the broker.
 */

/** The command's task as the relay finds it by the reply's correlation id. */
export interface TaskAtReply {
  status: string;
  deliveryId: string | null;
  service: string;
}

export type ReplyAction =
  /** Nothing to record: a duplicate, a late reply, a reply for no command of ours. */
  | { kind: "ignore"; why: string }
  | { kind: "complete"; deliveryId: string; output: unknown }
  | {
      kind: "fail";
      deliveryId: string;
      error: { message: string; code?: string };
      retryable: boolean;
      /** Set when the reply itself was unreadable (logged as such). */
      invalid?: string;
    };

/**
 * A reply settles the command's current delivery while one is out (leased, or withdrawing: its
 * run rolls back and waits for this very answer). Any other status means it was settled already.
 */
export function replyAction(
  key: string,
  task: TaskAtReply | undefined,
  content: Buffer,
): ReplyAction {
  if (!task) return { kind: "ignore", why: "no command has this correlation id" };
  if (!task.deliveryId || (task.status !== "leased" && task.status !== "withdrawing"))
    return { kind: "ignore", why: `the command is ${task.status}: settled already` };
  const reply = decodeReply(content);
  if (reply.kind === "output")
    return { kind: "complete", deliveryId: task.deliveryId, output: reply.output };
  if (reply.kind === "error")
    return {
      kind: "fail",
      deliveryId: task.deliveryId,
      error: reply.error,
      retryable: reply.retryable,
    };
  return {
    kind: "fail",
    deliveryId: task.deliveryId,
    error: {
      code: "AMQP_REPLY_INVALID",
      message: `service ${task.service} answered command ${key} with an invalid reply: ${reply.reason}`,
    },
    // The service answered, unreadably: asking it again would most likely get the same answer.
    retryable: false,
    invalid: reply.reason,
  };
}

/**
 * What to tell the broker when recording a reply failed with `code`: "ack" when there is
 * nothing left to record (the delivery's lease ran out — the command is published again — or
 * the task is gone), "leave" when this node is closing (unacknowledged, the reply is delivered
 * again to the next start), "retry" otherwise (the store failed: requeue it and try again).
 */
export function verdictOnError(code: unknown, closing: boolean): "ack" | "leave" | "retry" {
  if (code === "LEASE_LOST" || code === "TASK_NOT_FOUND") return "ack";
  if (closing || code === "ENGINE_CLOSED") return "leave";
  return "retry";
}
