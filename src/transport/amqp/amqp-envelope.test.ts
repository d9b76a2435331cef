import { describe, expect, it } from "vitest";
import { commandMessage, decodeReply, replyKey, replyQueueName } from "./amqp-envelope.js";

const reply = (text: string) => decodeReply(Buffer.from(text));

describe("decodeReply", () => {
  it.each([
    ['{"output": {"paymentId": "p-1"}}', { kind: "output", output: { paymentId: "p-1" } }],
    ['{"output": null}', { kind: "output", output: null }],
    [
      '{"error": {"message": "card declined", "code": "CARD_DECLINED"}, "retryable": false}',
      {
        kind: "error",
        error: { message: "card declined", code: "CARD_DECLINED" },
        retryable: false,
      },
    ],
    [
      '{"error": {"message": "network"}}',
      { kind: "error", error: { message: "network" }, retryable: true },
    ],
  ])("reads %s", (text, expected) => {
    expect(reply(text)).toEqual(expected);
  });

  it.each([
    ["", /not JSON/],
    ["{oops", /not JSON/],
    ["[1,2]", /must be a JSON object/],
    ["42", /must be a JSON object/],
    ["null", /must be a JSON object/],
    ["{}", /neither "output" nor "error"/],
    ['{"output": 1, "error": {"message": "x"}}', /both "output" and "error"/],
    ['{"error": "boom"}', /"error" must be an object/],
    ['{"error": {"code": "X"}}', /"error.message" must be a string/],
    ['{"error": {"message": "x", "code": "lower case"}}', /UPPER_SNAKE_CASE/],
    ['{"error": {"message": "x"}, "retryable": "yes"}', /"retryable" must be true or false/],
  ])("refuses %j with a clear reason", (text, reason) => {
    const decoded = reply(text);
    expect(decoded.kind).toBe("invalid");
    expect(decoded.kind === "invalid" && decoded.reason).toMatch(reason);
  });

  it("refuses a reply larger than the limit without parsing it", () => {
    const decoded = decodeReply(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    expect(decoded).toMatchObject({ kind: "invalid", reason: expect.stringMatching(/bytes/) });
  });

  it("refuses bytes that are not UTF-8 JSON", () => {
    expect(decodeReply(Buffer.from([0xff, 0xfe, 0x00])).kind).toBe("invalid");
  });
});

describe("replyKey", () => {
  it.each([
    ["run-1:3", "run-1:3"],
    [undefined, undefined],
    ["", undefined],
    [42, undefined],
    ["x".repeat(401), undefined],
  ])("%j → %j", (value, expected) => {
    expect(replyKey(value)).toBe(expected);
  });
});

describe("commandMessage", () => {
  it("carries the command as documented in docs/rabbitmq.md", () => {
    const message = commandMessage(
      {
        taskId: "o-1:2@1.abc",
        service: "payments",
        command: "charge",
        input: { orderId: "o-1", amount: 30 },
        runId: "o-1",
        workflow: "placeOrder",
        idempotencyKey: "o-1:2",
        attempt: 1,
        leaseExpiresAt: "2026-01-01T00:00:30.000Z",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
      replyQueueName("node-a"),
      Date.parse("2026-01-01T00:00:00Z"),
    );
    expect(JSON.parse(message.content.toString())).toEqual({ orderId: "o-1", amount: 30 });
    expect(message.options).toEqual({
      persistent: true,
      contentType: "application/json",
      correlationId: "o-1:2",
      replyTo: "baton.replies.node-a",
      type: "charge",
      messageId: "o-1:2@1.abc",
      timestamp: 1767225600,
      headers: {
        "baton-command": "charge",
        "baton-run-id": "o-1",
        "baton-workflow": "placeOrder",
        "baton-attempt": 1,
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
    });
  });
});
