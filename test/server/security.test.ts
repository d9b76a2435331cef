import { request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { BatonClient } from "../../src/client/index.js";
import { ValidationError } from "../../src/common/index.js";
import { createServer } from "../../src/server/index.js";
import { waitFor } from "../support/wait-for.js";
import { call, expectError } from "./http.js";
import { serverFixture } from "./server-fixture.js";

const TOKEN = "s3cret-token_value";
const auth = { authorization: `Bearer ${TOKEN}` };

/** A raw HTTP request on a real socket, with exactly the headers given (fetch adds its own). */
function rawPost(
  url: string,
  path: string,
  headers: Record<string, string>,
  body = "",
): Promise<{ status: number; body: { error?: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 ? { a: value } : [value];
  return value;
}

describe("security defaults of the HTTP API", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  describe("content type", () => {
    it("refuses state-changing requests without Content-Type: application/json, even without a body", async () => {
      const { server, baton } = await fixture.open();
      await baton.start("approval", {}, { runId: "ct-1" });
      for (const path of ["/v1/runs/ct-1/cancel", "/v1/runs/ct-1/retry"]) {
        const answer = await call(server.app, "POST", path, { noContentType: true });
        expectError(answer, 415, "UNSUPPORTED_MEDIA_TYPE");
        expect(answer.body.error.message).toMatch(/Content-Type: application\/json/);
      }
      expectError(
        await call(server.app, "POST", "/v1/runs/ct-1/cancel", {
          raw: "{}",
          headers: { "content-type": "text/plain" },
        }),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      );
      expectError(
        await call(server.app, "POST", "/v1/runs/ct-1/signals/go", {
          raw: '{"payload":1}',
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      );
      expect((await baton.get("ct-1")).status).not.toBe("cancelled");
    });

    it("takes an empty body with the JSON content type, parameters and case included", async () => {
      const { server, baton } = await fixture.open();
      await baton.start("approval", {}, { runId: "ct-2" });
      await waitFor(async () => (await baton.get("ct-2")).status === "waiting");
      const answer = await call(server.app, "POST", "/v1/runs/ct-2/cancel", {
        headers: { "content-type": "Application/JSON; charset=utf-8" },
      });
      expect(answer.status).toBe(202);
    });

    it("answers 404 for a POST to no route, whatever its content type", async () => {
      const { server } = await fixture.open();
      expectError(
        await call(server.app, "POST", "/v1/nothing-here", { noContentType: true }),
        404,
        "NOT_FOUND",
      );
    });

    it("checks the token before the content type", async () => {
      const { server } = await fixture.open({ token: TOKEN });
      expectError(
        await call(server.app, "POST", "/v1/runs/x/cancel", { noContentType: true }),
        401,
        "UNAUTHORIZED",
      );
      expectError(
        await call(server.app, "POST", "/v1/runs/x/cancel", { noContentType: true, headers: auth }),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      );
    });
  });

  describe("origins", () => {
    it("refuses a browser request from another origin with 403 FORBIDDEN_ORIGIN and changes nothing", async () => {
      const { server, baton } = await fixture.open();
      await baton.start("approval", {}, { runId: "csrf-1" });
      await waitFor(async () => (await baton.get("csrf-1")).status === "waiting");
      for (const origin of [
        "http://evil.example",
        "http://localhost:1234",
        "https://localhost",
        "null",
        "not an origin",
      ]) {
        const answer = await call(server.app, "POST", "/v1/runs/csrf-1/cancel", {
          headers: { origin },
        });
        expectError(answer, 403, "FORBIDDEN_ORIGIN");
      }
      expectError(
        await call(server.app, "GET", "/v1/runs", { headers: { origin: "http://evil.example" } }),
        403,
        "FORBIDDEN_ORIGIN",
      );
      expect((await baton.get("csrf-1")).status).toBe("waiting");
    });

    it("refuses it before asking for the token, so a forged request learns nothing", async () => {
      const { server } = await fixture.open({ token: TOKEN });
      expectError(
        await call(server.app, "POST", "/v1/runs/x/cancel", {
          headers: { origin: "http://evil.example", ...auth },
        }),
        403,
        "FORBIDDEN_ORIGIN",
      );
    });

    it("refuses a state-changing request that says it is cross-site even without an Origin", async () => {
      const { server } = await fixture.open();
      for (const site of ["cross-site", "same-site"]) {
        expectError(
          await call(server.app, "POST", "/v1/runs/x/cancel", {
            headers: { "sec-fetch-site": site },
          }),
          403,
          "FORBIDDEN_ORIGIN",
        );
      }
      // A link followed from another site is a GET navigation: the dashboard still opens.
      const page = await call(server.app, "GET", "/", {
        headers: { "sec-fetch-site": "cross-site" },
      });
      expect([200, 503]).toContain(page.status);
    });

    it("refuses a browser that reaches a loopback server under another name (DNS rebinding)", async () => {
      const { server } = await fixture.open();
      expectError(
        await call(server.app, "GET", "/v1/runs", {
          headers: {
            host: "rebind.evil.example:7070",
            origin: "http://rebind.evil.example:7070",
          },
        }),
        403,
        "FORBIDDEN_ORIGIN",
      );
      expectError(
        await call(server.app, "GET", "/v1/runs", {
          headers: { host: "rebind.evil.example:7070", "sec-fetch-site": "same-origin" },
        }),
        403,
        "FORBIDDEN_ORIGIN",
      );
      // Unless that name is an allowed origin.
      const aliased = await fixture.open({ allowedOrigins: ["http://baton.local:7070"] });
      const page = await call(aliased.server.app, "GET", "/v1/runs", {
        headers: { host: "baton.local:7070", "sec-fetch-site": "none" },
      });
      expect(page.status).toBe(200);
      // Not a browser (no Origin, no Sec-Fetch-*): left alone.
      expect(
        (await call(server.app, "GET", "/v1/runs", { headers: { host: "some-alias:7070" } }))
          .status,
      ).toBe(200);
    });

    it("accepts the server's own origin and the origins it is told to allow", async () => {
      const { server, baton } = await fixture.open({
        allowedOrigins: ["https://baton.example.com/"],
      });
      await baton.start("approval", {}, { runId: "own-1" });
      await waitFor(async () => (await baton.get("own-1")).status === "waiting");
      const own = await call(server.app, "POST", "/v1/runs/own-1/signals/decision", {
        json: { payload: "yes" },
        headers: { host: "127.0.0.1:7070", origin: "http://127.0.0.1:7070" },
      });
      expect(own.status).toBe(202);
      const proxied = await call(server.app, "GET", "/v1/runs", {
        headers: { host: "127.0.0.1:7070", origin: "https://baton.example.com" },
      });
      expect(proxied.status).toBe(200);
      expect(() =>
        createServer(baton.engine, { logger: false, allowedOrigins: ["baton.example.com"] }),
      ).toThrow(/not an origin/);
    });

    it("leaves requests without Origin alone: curl, workers and the CLI", async () => {
      const { server, baton } = await fixture.open();
      await baton.start("approval", {}, { runId: "curl-1" });
      await waitFor(async () => (await baton.get("curl-1")).status === "waiting");
      expect((await call(server.app, "POST", "/v1/runs/curl-1/cancel")).status).toBe(202);
    });

    it("on a real socket: the dashboard's origin passes, another is refused, as the user reported", async () => {
      const { url, baton } = await fixture.listen();
      await baton.start("approval", {}, { runId: "sock-1" });
      await waitFor(async () => (await baton.get("sock-1")).status === "waiting");
      const json = { "content-type": "application/json" };
      const evil = await rawPost(url, "/v1/runs/sock-1/cancel", {
        ...json,
        origin: "http://evil.example",
      });
      expect(evil).toMatchObject({ status: 403, body: { error: { code: "FORBIDDEN_ORIGIN" } } });
      expect((await baton.get("sock-1")).status).toBe("waiting");
      const own = await rawPost(url, "/v1/runs/sock-1/cancel", { ...json, origin: url });
      expect(own.status).toBe(202);
    });
  });

  it("BatonClient (and so the worker SDK, the CLI and the dashboard) says JSON on every POST", async () => {
    const { url, baton } = await fixture.listen();
    const posts: Array<{ path: string; contentType: string | null }> = [];
    const client = new BatonClient({
      url,
      fetch: (input, init) => {
        if (init?.method === "POST") {
          posts.push({
            path: new URL(input instanceof Request ? input.url : input.toString()).pathname,
            contentType: new Headers(init.headers).get("content-type"),
          });
        }
        return fetch(input, init);
      },
    });
    await client.startRun("approval", {}, { runId: "client-1" });
    await waitFor(async () => (await baton.get("client-1")).status === "waiting");
    await client.signal("client-1", "decision", "yes");
    await baton.start("doomed", {}, { runId: "client-2" });
    await waitFor(async () => (await baton.get("client-2")).status !== "pending");
    await client.retry("client-2").catch(() => undefined);
    await client.cancel("client-2").catch(() => undefined);
    await client.pollTasks("payments", { workerId: "w" });
    expect(posts.length).toBeGreaterThanOrEqual(5);
    for (const post of posts)
      expect(post, post.path).toMatchObject({ contentType: "application/json" });
  });

  describe("tokens and binding", () => {
    it("refuses an empty or blank token with a ValidationError", async () => {
      const { baton } = await fixture.open();
      for (const token of ["", "   "]) {
        let thrown: unknown;
        try {
          createServer(baton.engine, { token, logger: false });
        } catch (e) {
          thrown = e;
        }
        expect(thrown).toBeInstanceOf(ValidationError);
        expect(thrown).toMatchObject({ code: "INVALID_ARGUMENT", message: /token is empty/ });
      }
      await expect(baton.serve({ token: "", port: 0, logger: false })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it("refuses to serve without a token on an address other machines reach", async () => {
      const { baton } = await fixture.open();
      for (const host of ["0.0.0.0", "::", "192.168.1.20", "baton.internal"]) {
        expect(() => createServer(baton.engine, { host, logger: false })).toThrow(
          /refusing to serve the API without a token on .*--insecure-no-auth/,
        );
      }
      for (const host of ["127.0.0.1", "localhost", "::1", "127.0.0.2"]) {
        expect(() => createServer(baton.engine, { host, logger: false })).not.toThrow();
      }
      expect(() =>
        createServer(baton.engine, { host: "0.0.0.0", token: TOKEN, logger: false }),
      ).not.toThrow();
    });

    it("serves open on purpose with insecureNoAuth, and says so on /readyz", async () => {
      const open = await fixture.open({ host: "0.0.0.0", insecureNoAuth: true });
      const ready = await call(open.server.app, "GET", "/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: "ok", warnings: ["no auth"] });
      const guarded = await fixture.open({ host: "0.0.0.0", token: TOKEN });
      expect((await call(guarded.server.app, "GET", "/readyz")).body).toEqual({ status: "ok" });
    });
  });

  describe("JSON nesting depth", () => {
    it("answers a start body nested 5,000 levels deep with 400 BAD_REQUEST, not 500", async () => {
      const { server } = await fixture.open();
      const raw = `{"input":${"[".repeat(5_000)}${"]".repeat(5_000)}}`;
      const answer = await call(server.app, "POST", "/v1/workflows/approval/runs", { raw });
      expectError(answer, 400, "BAD_REQUEST");
      expect(answer.body.error.message).toMatch(/more than 128 levels deep/);
      const deepSignal = await call(server.app, "POST", "/v1/runs/x/signals/s", {
        json: { payload: nested(200) },
      });
      expectError(deepSignal, 400, "BAD_REQUEST");
      expect((await call(server.app, "GET", "/healthz")).status).toBe(200);
    });

    it("takes a body exactly at the limit", async () => {
      const { server } = await fixture.open();
      const answer = await call(server.app, "POST", "/v1/workflows/approval/runs", {
        json: { runId: "deep-ok", input: nested(127) },
      });
      expect(answer.status).toBe(201);
    });
  });
});
