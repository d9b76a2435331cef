import Database from "better-sqlite3";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient } from "../../src/client/index.js";
import { Baton, silentLogger, type Serving } from "../../src/index.js";
import { createOrderServices } from "../fixtures/order-saga.js";
import { tempDbUrl } from "../support/temp-db.js";
import { launchBrowser, screenshot } from "./browser.js";
import { ensureDashboardBuilt } from "./dashboard-build.js";
import { createWorkflows } from "./dashboard-fixture.js";

/**
 * The runs page on a busy database: 100,000 runs. Prints how long the API takes for a page
 * (with each filter) and how long the browser takes from navigation to the first page of
 * rows on screen. The numbers are for people to read; only the behaviour is asserted.
 */

const RUNS = 100_000;
const WORKFLOWS = ["placeOrder", "approval", "fulfilment", "invoice", "nightlyReport"];
/** Terminal only: a run the engine would resume needs a real journal. */
const STATUSES = [
  "completed",
  "completed",
  "completed",
  "completed",
  "completed",
  "completed",
  "compensated",
  "failed",
  "cancelled",
  "completed",
];

const db = tempDbUrl("runs-100k");
let baton: Baton;
let serving: Serving;
let browser: Browser;
const timings: Array<[string, string]> = [];

function runId(i: number): string {
  return `bulk-${String(i).padStart(6, "0")}`;
}

/**
 * Rows straight into SQLite in one transaction (the engine's own writes would take minutes):
 * the run and its run.started entry, a second apart, oldest first.
 */
function insertRuns(path: string): number {
  const started = performance.now();
  const sqlite = new Database(path);
  try {
    const base = Date.now() - RUNS * 1000;
    const run = sqlite.prepare(
      `INSERT INTO runs (run_id, workflow, status, input, output, error, created_at, updated_at, journal_length)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 2)`,
    );
    const entry = sqlite.prepare(
      "INSERT INTO journal (run_id, position, seq, type, name, data, at) VALUES (?, ?, NULL, ?, NULL, ?, ?)",
    );
    sqlite.transaction(() => {
      for (let i = 0; i < RUNS; i++) {
        const status = STATUSES[i % STATUSES.length]!;
        const at = base + i * 1000;
        const error =
          status === "completed"
            ? null
            : JSON.stringify({ code: "OUT_OF_STOCK", message: "no stock" });
        run.run(
          runId(i),
          WORKFLOWS[i % WORKFLOWS.length],
          status,
          JSON.stringify({ n: i }),
          status === "completed" ? JSON.stringify({ ok: true }) : null,
          error,
          at,
          at + 40 + (i % 200),
        );
        entry.run(runId(i), 0, "run.started", null, at);
        entry.run(
          runId(i),
          1,
          `run.${status}`,
          error && JSON.stringify({ error: JSON.parse(error) }),
          at + 40,
        );
      }
    })();
  } finally {
    sqlite.close();
  }
  return performance.now() - started;
}

function record(what: string, ms: number): void {
  timings.push([what, `${ms.toFixed(1)} ms`]);
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await fn();
  record(what, performance.now() - started);
  return result;
}

/** Median of `times` calls, after one warm-up. */
async function median(what: string, times: number, fn: () => Promise<unknown>): Promise<void> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  record(`${what} (median of ${times})`, samples[Math.floor(times / 2)]!);
}

/** When the page marked its first page of runs on screen, in ms since navigation began (browser clock). */
async function markedFirstPage(page: Page): Promise<number> {
  return page.evaluate<number>(
    "performance.getEntriesByName('baton:runs-first-page')[0]?.startTime ?? -1",
  );
}

async function firstRowIds(page: Page): Promise<string[]> {
  const rows = page.locator("[data-testid=runs-table] tbody tr");
  await rows.first().waitFor({ timeout: 15_000 });
  return Promise.all(
    (await rows.all()).map(async (row) => (await row.getAttribute("data-run-id")) ?? ""),
  );
}

beforeAll(async () => {
  ensureDashboardBuilt();
  const order = createOrderServices();
  const { workflows, services } = createWorkflows(order);
  // Migrate an empty database, fill it, then open it as a server would.
  await (await Baton.open({ db: db.url, workflows, services, logger: silentLogger })).close();
  record(
    `insert ${RUNS.toLocaleString("en-US")} runs (SQLite, one transaction)`,
    insertRuns(db.path),
  );
  baton = await timed("open Baton on 100k runs", () =>
    Baton.open({ db: db.url, workflows, services, logger: silentLogger }),
  );
  [serving, browser] = await Promise.all([
    baton.serve({ port: 0, logger: false }),
    launchBrowser(),
  ]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await baton?.close();
  db.cleanup();
  console.log(
    `\nRuns page with ${RUNS.toLocaleString("en-US")} runs (this machine):\n` +
      timings.map(([what, ms]) => `  ${ms.padStart(10)}  ${what}`).join("\n") +
      "\n",
  );
});

describe(`the runs page with ${RUNS.toLocaleString("en-US")} runs`, () => {
  it("answers a page of runs through the API for every filter", async () => {
    const client = new BatonClient({ url: serving.url });
    const first = await timed("API: first page, cold", () => client.listRuns({ limit: 50 }));
    expect(first.runs).toHaveLength(50);
    expect(first.runs[0]!.runId).toBe(runId(RUNS - 1));
    expect(first.nextCursor).toBeDefined();

    await median("API: first page of 50", 5, () => client.listRuns({ limit: 50 }));
    await median("API: status=failed", 5, () => client.listRuns({ limit: 50, status: "failed" }));
    await median("API: workflow=invoice", 5, () =>
      client.listRuns({ limit: 50, workflow: "invoice" }),
    );
    await median(
      "API: workflow=invoice & status=failed (no such runs)",
      5,
      () => client.listRuns({ limit: 50, workflow: "invoice", status: "failed" }),
    );
    await median("API: workflow=fulfilment & status=failed", 5, () =>
      client.listRuns({ limit: 50, workflow: "fulfilment", status: "failed" }),
    );
    await median("API: run id prefix bulk-0500 (100 matches)", 5, () =>
      client.listRuns({ limit: 50, runIdPrefix: "bulk-0500" }),
    );
    await median("API: run id prefix that matches nothing", 5, () =>
      client.listRuns({ limit: 50, runIdPrefix: "nothing-" }),
    );
    await median("API: second page (cursor)", 5, () =>
      client.listRuns({ limit: 50, cursor: first.nextCursor! }),
    );
    let cursor = first.nextCursor;
    for (let i = 0; i < 20 && cursor; i++)
      cursor = (await client.listRuns({ limit: 50, cursor })).nextCursor;
    await median("API: page 22 (cursor)", 5, () => client.listRuns({ limit: 50, cursor: cursor! }));
    const counts = await timed("API: workflow counts (GROUP BY), cold", () => client.workflows());
    expect(
      counts.reduce((sum, w) => sum + w.completed + w.failed + w.compensated + w.cancelled, 0),
    ).toBe(RUNS);
    await median("API: workflow counts", 3, () => client.workflows());
  });

  it("shows the first page of runs soon after navigation, and pages with keyset cursors", async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    try {
      const page = await context.newPage();
      const firstRow = (attributes: string) =>
        page.locator(`[data-testid=runs-table] tbody tr:first-child${attributes}`);
      // Two clocks: the page's own mark (navigation start → rows rendered), and this process's
      // (goto → rows seen), which also counts the round trips between Node and the browser, and
      // shares its event loop with the server.
      for (const round of ["cold", "warm"]) {
        const started = performance.now();
        await page.goto(serving.url, { waitUntil: "commit" });
        const ids = await firstRowIds(page);
        record(`browser: goto → first page seen, ${round}`, performance.now() - started);
        record(
          `browser: navigation → first page rendered (page's own clock), ${round}`,
          await markedFirstPage(page),
        );
        expect(ids).toHaveLength(50);
        expect(ids[0]).toBe(runId(RUNS - 1));
      }

      let started = performance.now();
      await page.goto(`${serving.url}/?status=failed&workflow=fulfilment`, { waitUntil: "commit" });
      await firstRow('[data-status="failed"]').waitFor({ timeout: 15_000 });
      record(
        "browser: goto → first page seen, status=failed & workflow=fulfilment",
        performance.now() - started,
      );
      record(
        "browser: navigation → first page rendered, status=failed & workflow=fulfilment",
        await markedFirstPage(page),
      );
      expect(
        await page.locator('[data-testid=runs-table] tbody tr:not([data-status="failed"])').count(),
      ).toBe(0);

      await page.goto(serving.url);
      const newest = await firstRowIds(page);
      started = performance.now();
      await page.getByRole("button", { name: "Older →" }).click();
      await firstRow(`[data-run-id="${runId(RUNS - 51)}"]`).waitFor({ timeout: 15_000 });
      record("browser: Older → next page seen", performance.now() - started);
      expect(await page.getByText("Page 2").count()).toBe(1);
      await page.getByRole("button", { name: "← Newer" }).click();
      await firstRow(`[data-run-id="${newest[0]}"]`).waitFor({ timeout: 15_000 });
      await screenshot(page, "runs-100k-light");
    } finally {
      await context.close();
    }
  });
});
