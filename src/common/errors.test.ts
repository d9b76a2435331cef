import { describe, expect, it } from "vitest";
import {
  BatonError,
  ConflictError,
  ErrorCodes,
  LeaseLostError,
  NonDeterminismError,
  NotFoundError,
  StepFailedError,
  TransientError,
  ValidationError,
  fromErrorData,
  httpStatusOf,
  isBatonError,
  toBatonError,
  toErrorData,
} from "./index.js";

describe("toBatonError", () => {
  it("returns a BatonError as it is", () => {
    const error = new StepFailedError("out of stock", { code: "OUT_OF_STOCK" });
    expect(toBatonError(error)).toBe(error);
  });

  it("wraps a plain Error as a retryable STEP_FAILED that keeps its message and cause", () => {
    const cause = new Error("connection reset");
    const error = toBatonError(cause);
    expect(error).toBeInstanceOf(BatonError);
    expect(error).toMatchObject({
      code: "STEP_FAILED",
      message: "connection reset",
      retryable: true,
      details: undefined,
    });
    expect(error.cause).toBe(cause);
  });

  it("keeps the name of an Error subclass as details.type", () => {
    expect(toBatonError(new TypeError("x is not a function")).details).toEqual({
      type: "TypeError",
    });
  });

  it("takes an Error's own string code, and ignores a code that is not a string", () => {
    expect(toBatonError(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })).code).toBe(
      "ECONNREFUSED",
    );
    expect(toBatonError(Object.assign(new Error("odd"), { code: 42 })).code).toBe("STEP_FAILED");
  });

  it("uses the name of an Error that has no message", () => {
    expect(toBatonError(new RangeError()).message).toBe("RangeError");
  });

  it("wraps a thrown string as its message", () => {
    expect(toBatonError("boom")).toMatchObject({
      code: "STEP_FAILED",
      message: "boom",
      retryable: true,
    });
  });

  it("wraps a thrown object with its JSON in the message", () => {
    expect(toBatonError({ status: 502 })).toMatchObject({
      code: "STEP_FAILED",
      message: 'non-error thrown: {"status":502}',
      retryable: true,
    });
  });

  it("wraps things JSON cannot show without throwing", () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(toBatonError(circular).message).toBe("non-error thrown: [object Object]");
    expect(toBatonError(undefined).message).toBe("non-error thrown: undefined");
  });
});

describe("httpStatusOf", () => {
  it.each([
    ["INVALID_RUN_ID", 400],
    ["INVALID_CURSOR", 400],
    ["UNAUTHORIZED", 401],
    ["FORBIDDEN", 403],
    ["RUN_NOT_FOUND", 404],
    ["RUN_ID_IN_USE", 409],
    ["LEASE_LOST", 409],
    ["PAYLOAD_TOO_LARGE", 413],
    ["INPUT_INVALID", 422],
    ["INTERNAL", 500],
    ["STORE_FAILED", 503],
    ["STEP_TIMEOUT", 504],
  ])("maps %s to %i", (code, status) => {
    expect(httpStatusOf(code)).toBe(status);
  });

  it("maps every registered code by the registry", () => {
    for (const [code, status] of Object.entries(ErrorCodes))
      expect(httpStatusOf(code)).toBe(status);
  });

  it("maps an unregistered code to 500", () => {
    expect(httpStatusOf("OUT_OF_STOCK")).toBe(500);
    expect(httpStatusOf("")).toBe(500);
  });

  it.each(["toString", "constructor", "hasOwnProperty", "__proto__"])(
    "maps the unregistered code %s to 500",
    (code) => {
      expect(httpStatusOf(code)).toBe(500);
    },
  );
});

describe("error classes", () => {
  it("makes StepFailedError a business failure that is not retried", () => {
    const error = new StepFailedError("card declined");
    expect(error).toMatchObject({ code: "STEP_FAILED", name: "StepFailedError", retryable: false });
    expect(
      new StepFailedError("no stock", { code: "OUT_OF_STOCK", details: { sku: 1 } }),
    ).toMatchObject({
      code: "OUT_OF_STOCK",
      details: { sku: 1 },
      retryable: false,
    });
  });

  it("makes TransientError retryable, with an optional retryAfterMs", () => {
    expect(new TransientError("busy", { retryAfterMs: 2_000 })).toMatchObject({
      code: "TRANSIENT",
      name: "TransientError",
      retryable: true,
      retryAfterMs: 2_000,
    });
    expect(new TransientError("busy").retryAfterMs).toBeUndefined();
    expect(new TransientError("rate limited", { code: "RATE_LIMITED" }).code).toBe("RATE_LIMITED");
  });

  it.each([
    ["NonDeterminismError", new NonDeterminismError("seq 3 differs"), "NON_DETERMINISM"],
    ["LeaseLostError", new LeaseLostError("fenced"), "LEASE_LOST"],
    ["NotFoundError", new NotFoundError("RUN_NOT_FOUND", "no run r-1"), "RUN_NOT_FOUND"],
    ["ConflictError", new ConflictError("RUN_TERMINAL", "run r-1 completed"), "RUN_TERMINAL"],
    ["ValidationError", new ValidationError("INVALID_ARGUMENT", "bad limit"), "INVALID_ARGUMENT"],
  ])("gives a %s its name and code, not retryable", (name, error, code) => {
    expect(error).toBeInstanceOf(BatonError);
    expect(isBatonError(error)).toBe(true);
    expect(error).toMatchObject({ name, code, retryable: false });
  });

  it("keeps a cause when given one", () => {
    const cause = new Error("socket hang up");
    expect(new BatonError("UNAVAILABLE", "down", { cause }).cause).toBe(cause);
    expect("cause" in new BatonError("UNAVAILABLE", "down")).toBe(false);
  });

  it("tells BatonErrors from other values", () => {
    expect(isBatonError(new Error("x"))).toBe(false);
    expect(isBatonError({ code: "X", message: "y" })).toBe(false);
  });
});

describe("errors as plain data", () => {
  it("serialises to { code, message } without details", () => {
    const error = new BatonError("RUN_TERMINAL", "run r-1 completed");
    expect(error.toJSON()).toStrictEqual({ code: "RUN_TERMINAL", message: "run r-1 completed" });
    expect(JSON.parse(JSON.stringify(error))).toStrictEqual({
      code: "RUN_TERMINAL",
      message: "run r-1 completed",
    });
  });

  it("serialises details when present", () => {
    expect(
      new StepFailedError("no stock", { code: "OUT_OF_STOCK", details: { sku: 1 } }).toJSON(),
    ).toStrictEqual({
      code: "OUT_OF_STOCK",
      message: "no stock",
      details: { sku: 1 },
    });
  });

  it("converts anything thrown to data once", () => {
    expect(toErrorData(new TypeError("bad"))).toStrictEqual({
      code: "STEP_FAILED",
      message: "bad",
      details: { type: "TypeError" },
    });
    expect(toErrorData("boom")).toStrictEqual({ code: "STEP_FAILED", message: "boom" });
  });

  it("rebuilds an error from data, not retryable unless asked", () => {
    const data = { code: "OUT_OF_STOCK", message: "no stock", details: { sku: 1 } };
    const error = fromErrorData(data);
    expect(error).toBeInstanceOf(BatonError);
    expect(error).toMatchObject({ ...data, retryable: false });
    expect(fromErrorData(data, true).retryable).toBe(true);
    expect(error.toJSON()).toStrictEqual(data);
  });
});
