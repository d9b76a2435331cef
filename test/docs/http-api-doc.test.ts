import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { call } from "../server/http.js";
import { serverFixture } from "../server/server-fixture.js";

const DOC = new URL("../../docs/http-api.md", import.meta.url);

describe("docs/http-api.md", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("documents every route the server's /openapi.json lists", async () => {
    const { server } = await fixture.open();
    const answer = await call(server.app, "GET", "/openapi.json");
    const { paths } = JSON.parse(answer.text) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.length).toBeGreaterThan(15);
    const doc = readFileSync(DOC, "utf8");
    const missing = routes.filter((route) => !doc.includes(`\`${route}\``));
    expect(missing, "routes to add to docs/http-api.md, written as `METHOD /path`").toEqual([]);
  });
});
