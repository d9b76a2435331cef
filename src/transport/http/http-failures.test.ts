import { describe, expect, it } from "vitest";
import { errorForNetworkFailure, errorForStatus, parseRetryAfter } from "./http-failures.js";

const site = { call: "svc.cmd", url: "http://svc.test/cmd" };

describe("parseRetryAfter", () => {
  const now = Date.parse("2030-01-01T00:00:00Z");

  it("reads delay-seconds", () => {
    expect(parseRetryAfter("3", now)).toBe(3_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
  });

  it("reads an HTTP date as the time left until it", () => {
    expect(parseRetryAfter("Tue, 01 Jan 2030 00:00:05 GMT", now)).toBe(5_000);
    expect(parseRetryAfter("Mon, 31 Dec 2029 23:59:00 GMT", now)).toBe(0);
  });

  it("ignores what it cannot read", () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("-5", now)).toBeUndefined();
  });
});

describe("failure classification", () => {
  it("retries DNS failures, refusals and resets, but not malformed requests", () => {
    for (const code of ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "UND_ERR_SOCKET"]) {
      const cause = Object.assign(new Error(`boom ${code}`), { code });
      const error = errorForNetworkFailure(site, new TypeError("fetch failed", { cause }));
      expect(error).toMatchObject({ code: "UNAVAILABLE", retryable: true });
      expect(error.details).toMatchObject({ networkCode: code });
    }
    const invalid = Object.assign(new Error("bad header"), { code: "UND_ERR_INVALID_ARG" });
    expect(errorForNetworkFailure(site, invalid)).toMatchObject({ retryable: false });
  });

  it("does not follow redirects and does not retry them", () => {
    expect(errorForStatus(site, 301, "Moved Permanently", "", undefined)).toMatchObject({
      code: "HTTP_301",
      retryable: false,
    });
  });

  it("ignores an error body that is not Baton-shaped", () => {
    const error = errorForStatus(site, 400, "Bad Request", '{"error":"nope"}', undefined);
    expect(error).toMatchObject({ code: "HTTP_400", retryable: false });
    expect(error.message).toContain('{"error":"nope"}');
  });
});
