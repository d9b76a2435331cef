import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "../../src/server/index.js";
import { call, expectError } from "./http.js";
import { serverFixture } from "./server-fixture.js";

const TOKEN = "s3cret-token_value";

describe("bearer-token auth", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("refuses /v1 calls without a token with 401, and with a wrong one with 403", async () => {
    const { server } = await fixture.open({ token: TOKEN });
    const missing = await call(server.app, "GET", "/v1/runs");
    expectError(missing, 401, "UNAUTHORIZED");
    expect(missing.headers["www-authenticate"]).toBe('Bearer realm="baton"');
    expectError(
      await call(server.app, "GET", "/v1/runs", { headers: { authorization: `Basic ${TOKEN}` } }),
      401,
      "UNAUTHORIZED",
    );
    expectError(
      await call(server.app, "GET", "/v1/runs", { headers: { authorization: "Bearer" } }),
      401,
      "UNAUTHORIZED",
    );
    expectError(
      await call(server.app, "GET", "/v1/runs", { headers: { authorization: "Bearer wrong" } }),
      403,
      "FORBIDDEN",
    );
    expectError(
      await call(server.app, "GET", "/v1/runs", { headers: { authorization: `Bearer ${TOKEN}x` } }),
      403,
      "FORBIDDEN",
    );
    expectError(
      await call(server.app, "POST", "/v1/workflows/greet/runs", {
        json: { input: { name: "x" } },
      }),
      401,
      "UNAUTHORIZED",
    );
    expectError(
      await call(server.app, "POST", "/v1/services/payments/tasks/poll", {
        json: { workerId: "w" },
        headers: { authorization: "Bearer nope" },
      }),
      403,
      "FORBIDDEN",
    );
  });

  it("lets the right token through, whatever the case of the scheme", async () => {
    const { server } = await fixture.open({ token: TOKEN });
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER  ${TOKEN} `]) {
      expect(
        (await call(server.app, "GET", "/v1/runs", { headers: { authorization } })).status,
      ).toBe(200);
    }
    const started = await call(server.app, "POST", "/v1/workflows/greet/runs?wait=10", {
      json: { input: { name: "authorised" } },
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(started.body.status).toBe("completed");
  });

  it("checks the token before anything else, so unknown /v1 paths and bad bodies reveal nothing", async () => {
    const { server } = await fixture.open({ token: TOKEN });
    expectError(await call(server.app, "GET", "/v1/not-a-route"), 401, "UNAUTHORIZED");
    expectError(
      await call(server.app, "POST", "/v1/workflows/greet/runs", {
        raw: "{not json",
        headers: { "content-type": "application/json" },
      }),
      401,
      "UNAUTHORIZED",
    );
    expectError(await call(server.app, "GET", "/v1/runs/no-such-run"), 401, "UNAUTHORIZED");
  });

  it("keeps health, readiness, metrics, the OpenAPI document and non-API paths open", async () => {
    const { server } = await fixture.open({ token: TOKEN });
    expect((await call(server.app, "GET", "/healthz")).status).toBe(200);
    expect((await call(server.app, "GET", "/readyz")).status).toBe(200);
    expect((await call(server.app, "GET", "/metrics")).status).toBe(200);
    expect((await call(server.app, "GET", "/openapi.json")).status).toBe(200);
    // The dashboard's page (or, before `npm run build:ui`, the page saying to build it): not
    // behind the token; the page asks for it for its API calls.
    const dashboard = await call(server.app, "GET", "/");
    expect([200, 503]).toContain(dashboard.status);
    expect(dashboard.headers["content-type"]).toBe("text/html; charset=utf-8");
  });

  it("needs no token when none is configured", async () => {
    const { server } = await fixture.open();
    expect((await call(server.app, "GET", "/v1/runs")).status).toBe(200);
    expect(
      (await call(server.app, "GET", "/v1/runs", { headers: { authorization: "Bearer anything" } }))
        .status,
    ).toBe(200);
  });

  it("refuses to start with an empty token rather than serve unprotected", async () => {
    const { baton } = await fixture.open();
    expect(() => createServer(baton.engine, { token: "", logger: false })).toThrow(
      /token is empty/,
    );
  });
});
