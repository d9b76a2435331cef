import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { dashboardFallback, registerDashboard } from "../../src/server/static.js";
import { serverFixture } from "../server/server-fixture.js";
import { ensureDashboardBuilt } from "./dashboard-build.js";

/** The dashboard's files over HTTP: what `npm start` serves at `/`, beside the API. */
describe("serving the dashboard", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("serves the page at / and at any page path a browser navigates to, open without the token", async () => {
    ensureDashboardBuilt();
    const { server } = await fixture.open({ token: "t0ken" });
    const root = await server.app.inject({ url: "/" });
    expect(root.statusCode).toBe(200);
    expect(root.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(root.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(root.body).toContain('<div id="root">');

    const deepLink = await server.app.inject({
      url: "/runs/o-1%3A2?tab=journal",
      headers: { accept: "text/html,application/xhtml+xml" },
    });
    expect(deepLink.statusCode).toBe(200);
    expect(deepLink.body).toBe(root.body);

    const script = /src="(\/assets\/[^"]+\.js)"/.exec(root.body)?.[1];
    expect(script).toBeDefined();
    const asset = await server.app.inject({ url: script! });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(asset.headers["cache-control"]).toContain("immutable");
    expect((await server.app.inject({ url: "/favicon.svg" })).statusCode).toBe(200);
  });

  it("keeps /v1 an API: unknown API paths and JSON clients get the usual errors", async () => {
    ensureDashboardBuilt();
    const { server } = await fixture.open({ token: "t0ken" });
    const html = { accept: "text/html" };
    // A browser navigating to an API path is still refused without the token.
    const api = await server.app.inject({ url: "/v1/runs", headers: html });
    expect(api.statusCode).toBe(401);
    const unknownApi = await server.app.inject({ url: "/v1/nothing", headers: html });
    expect(unknownApi.statusCode).toBe(401);
    const json = await server.app.inject({
      url: "/nothing",
      headers: { accept: "application/json" },
    });
    expect(json.statusCode).toBe(404);
    expect(json.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    const post = await server.app.inject({ method: "POST", url: "/runs/x", headers: html });
    expect(post.statusCode).toBe(404);
    const escape = await server.app.inject({ url: "/assets/..%2F..%2Fpackage.json" });
    expect(escape.statusCode).toBe(404);
    expect(escape.body).not.toContain('"name": "baton"');
    const missing = await server.app.inject({ url: "/assets/nope.js" });
    expect(missing.statusCode).toBe(404);
  });

  it("says how to build the dashboard when it is not built", async () => {
    const empty = mkdtempSync(join(tmpdir(), "baton-no-ui-"));
    const app = Fastify();
    try {
      registerDashboard(app, empty);
      app.setNotFoundHandler(
        dashboardFallback((_request, reply) => void reply.code(404).send("nope"), empty),
      );
      const answer = await app.inject({ url: "/" });
      expect(answer.statusCode).toBe(503);
      expect(answer.body).toContain("npm run build:ui");
      const deepLink = await app.inject({ url: "/workflows", headers: { accept: "text/html" } });
      expect(deepLink.statusCode).toBe(503);
    } finally {
      await app.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
