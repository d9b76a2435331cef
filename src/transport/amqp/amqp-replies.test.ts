import { describe, expect, it } from "vitest";
import { replyAction, verdictOnError, type TaskAtReply } from "./amqp-replies.js";

const body = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value));
const task = (status: string, deliveryId: string | null = "k@1.t"): TaskAtReply => ({
  status,
  deliveryId,
  service: "payments",
});

describe("replyAction", () => {
  it.each([
    { task: undefined, reply: { output: 1 }, action: { kind: "ignore" } },
    { task: task("completed"), reply: { output: 1 }, action: { kind: "ignore" } },
    { task: task("failed"), reply: { output: 1 }, action: { kind: "ignore" } },
    { task: task("expired"), reply: { output: 1 }, action: { kind: "ignore" } },
    { task: task("withdrawn"), reply: { output: 1 }, action: { kind: "ignore" } },
    // Requeued for a retry: the reply answers an earlier delivery that was settled already.
    { task: task("queued", null), reply: { output: 1 }, action: { kind: "ignore" } },
    {
      task: task("leased"),
      reply: { output: { paymentId: "p" } },
      action: { kind: "complete", deliveryId: "k@1.t", output: { paymentId: "p" } },
    },
    // The run rolls back and waits for this answer: it is recorded, then compensated.
    {
      task: task("withdrawing"),
      reply: { output: 2 },
      action: { kind: "complete", deliveryId: "k@1.t", output: 2 },
    },
    {
      task: task("leased"),
      reply: { error: { message: "declined", code: "CARD_DECLINED" }, retryable: false },
      action: {
        kind: "fail",
        deliveryId: "k@1.t",
        error: { message: "declined", code: "CARD_DECLINED" },
        retryable: false,
      },
    },
    {
      task: task("leased"),
      reply: { error: { message: "busy" } },
      action: { kind: "fail", deliveryId: "k@1.t", error: { message: "busy" }, retryable: true },
    },
    {
      task: task("leased"),
      reply: "<html>oops</html>",
      action: {
        kind: "fail",
        deliveryId: "k@1.t",
        error: {
          code: "AMQP_REPLY_INVALID",
          message: expect.stringMatching(
            /^service payments answered command r:2 with an invalid reply: the reply is not JSON/,
          ),
        },
        retryable: false,
        invalid: expect.any(String),
      },
    },
    // Undecodable yet settled already: nothing to record, and no failure either.
    { task: task("completed"), reply: "garbage", action: { kind: "ignore" } },
  ])("$task.status + $reply → $action.kind", ({ task: found, reply, action }) => {
    expect(replyAction("r:2", found, body(reply))).toMatchObject(action);
  });
});

describe("verdictOnError", () => {
  it.each([
    { code: "LEASE_LOST", closing: false, verdict: "ack" },
    { code: "TASK_NOT_FOUND", closing: false, verdict: "ack" },
    { code: "ENGINE_CLOSED", closing: false, verdict: "leave" },
    { code: "STORE_UNAVAILABLE", closing: true, verdict: "leave" },
    { code: "STORE_UNAVAILABLE", closing: false, verdict: "retry" },
    { code: undefined, closing: false, verdict: "retry" },
  ])("$code (closing: $closing) → $verdict", ({ code, closing, verdict }) => {
    expect(verdictOnError(code, closing)).toBe(verdict);
  });
});
