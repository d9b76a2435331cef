import { afterEach, describe, expect, it } from "vitest";
import { BatonClient } from "../../src/client/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { waitFor } from "../support/wait-for.js";
import { call, expectError } from "./http.js";
import { serverFixture } from "./server-fixture.js";

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, "v"]));

describe("tags and the runs search over HTTP", () => {
  const fixture = serverFixture();
  afterEach(() => fixture.cleanup());

  it("returns the tags given on start, on the run and in lists", async () => {
    const { server } = await fixture.open();
    const tags = { customer: "c-17", "team/app": "" };
    const started = await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "ada" }, runId: "t-1", tags },
    });
    expect(started.status).toBe(201);
    expect(started.body.tags).toEqual(tags);
    expect((await call(server.app, "GET", "/v1/runs/t-1")).body.tags).toEqual(tags);
    const listed = await call(server.app, "GET", "/v1/runs?tag=customer:c-17");
    expect(listed.body.runs.map((r: { tags?: unknown }) => r.tags)).toEqual([tags]);
  });

  it.each([
    { tags: { ...sixteen, k16: "v" }, why: "17 tags" },
    { tags: { customer: 17 }, why: "a value that is not a string" },
    { tags: { "cust:omer": "c" }, why: "a key with a colon" },
    { tags: { "": "c" }, why: "an empty key" },
    { tags: { ["k".repeat(65)]: "c" }, why: "a key of 65 characters" },
    { tags: { k: "v".repeat(257) }, why: "a value of 257 characters" },
    { tags: ["customer"], why: "an array" },
  ])("refuses $why with 400 INVALID_TAGS and starts nothing", async ({ tags }) => {
    const { server } = await fixture.open();
    const answer = await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "ada" }, tags },
    });
    expectError(answer, 400, "INVALID_TAGS");
    expect((await call(server.app, "GET", "/v1/runs")).body.runs).toEqual([]);
  });

  it("filters by tags (AND-ed), creation time, and the other filters, page by page", async () => {
    const clock = new ManualClock(T0);
    const { server } = await fixture.open({}, { clock });
    const runs: Array<[string, Record<string, string>]> = [
      ["r-1", { customer: "c-17", region: "eu" }],
      ["r-2", { customer: "c-18", region: "eu" }],
      ["r-3", { customer: "c-17", region: "us" }],
      ["r-4", { customer: "c-17", region: "eu" }],
    ];
    for (const [runId, tags] of runs) {
      const answer = await call(server.app, "POST", "/v1/workflows/approval/runs", {
        json: { input: {}, runId, tags },
      });
      expect(answer.status).toBe(201);
      clock.advance(HOUR);
    }
    const ids = async (query: string): Promise<string[]> => {
      const found: string[] = [];
      let cursor = "";
      do {
        const page = await call(server.app, "GET", `/v1/runs?limit=1&${query}${cursor}`);
        expect(page.status).toBe(200);
        found.push(...page.body.runs.map((r: { runId: string }) => r.runId));
        cursor = page.body.nextCursor ? `&cursor=${page.body.nextCursor}` : "";
      } while (cursor);
      return found;
    };
    const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    expect(await ids("tag=customer:c-17")).toEqual(["r-4", "r-3", "r-1"]);
    expect(await ids("tag=customer:c-17&tag=region:eu")).toEqual(["r-4", "r-1"]);
    expect(await ids("tag=region:eu&workflow=approval&runIdPrefix=r-2")).toEqual(["r-2"]);
    expect(await ids("tag=region:eu&workflow=greet")).toEqual([]);
    expect(await ids(`createdAfter=${iso(T0 + HOUR)}&createdBefore=${iso(T0 + 3 * HOUR)}`)).toEqual(
      ["r-3", "r-2"],
    );
    expect(await ids(`tag=customer:c-17&createdAfter=${iso(T0 + HOUR)}`)).toEqual(["r-4", "r-3"]);
  });

  it.each([
    ["tag=customer", "INVALID_FILTER"],
    ["tag=:c-17", "INVALID_FILTER"],
    ["createdAfter=yesterday", "INVALID_FILTER"],
    ["createdBefore=1700000000000", "INVALID_FILTER"],
  ])("refuses ?%s with 400 %s", async (query, code) => {
    const { server } = await fixture.open();
    expectError(await call(server.app, "GET", `/v1/runs?${query}`), 400, code);
  });

  it("BatonClient starts with tags and searches by tags and time", async () => {
    const clock = new ManualClock(T0);
    const { url } = await fixture.listen({}, { clock });
    const client = new BatonClient({ url });
    await client.startRun("approval", {}, { runId: "a-1", tags: { customer: "c-17" } });
    clock.advance(HOUR);
    await client.startRun("approval", {}, { runId: "a-2", tags: { customer: "c-17", vip: "yes" } });
    const search = async (query: Parameters<BatonClient["listRuns"]>[0]) =>
      (await client.listRuns(query)).runs.map((r) => r.runId);
    expect(await search({ tags: { customer: "c-17" } })).toEqual(["a-2", "a-1"]);
    expect(await search({ tags: { customer: "c-17", vip: "yes" } })).toEqual(["a-2"]);
    expect(await search({ createdBefore: new Date(T0 + 1) })).toEqual(["a-1"]);
    expect(await search({ createdAfter: new Date(T0 + 1).toISOString() })).toEqual(["a-2"]);
    await expect(
      client.startRun("approval", {}, { tags: { "bad key": "x" } }),
    ).rejects.toMatchObject({ code: "INVALID_TAGS" });
  });

  it("reports the rows retention deleted, per table, in /metrics", async () => {
    const clock = new ManualClock(T0);
    const { baton, server } = await fixture.open({}, { clock, retention: "1h" });
    await call(server.app, "POST", "/v1/workflows/greet/runs", {
      json: { input: { name: "ada" }, runId: "g-1" },
    });
    await baton.result("g-1");
    clock.advance(2 * HOUR);
    await waitFor(() => baton.engine.retentionDeleted.get("runs") === 1, { what: "g-1 deleted" });
    const metrics = (await call(server.app, "GET", "/metrics")).text;
    expect(metrics).toContain('baton_retention_deleted_rows_total{table="runs"} 1');
    expect(metrics).toMatch(/baton_retention_deleted_rows_total\{table="journal"\} [1-9]/);
  });
});
