import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait-for.js";
import { launchBrowser, screenshot } from "./browser.js";
import { startDashboardServer, type DashboardServer } from "./dashboard-fixture.js";

/** The runs page's search by tag and by creation time, in a real browser against a real server. */

interface DomElement {
  getAttribute(name: string): string | null;
}
const UI_TIMEOUT = 15_000;

let server: DashboardServer;
let browser: Browser;
let page: Page;
/** A time between the first run's creation and the second's, on a whole second. */
let between: Date;

async function shownRunIds(): Promise<string[]> {
  return page
    .locator("[data-testid=runs-table] tbody tr")
    .evaluateAll((rows: DomElement[]) => rows.map((row) => row.getAttribute("data-run-id") ?? ""));
}

async function expectRows(expected: string[], what: string): Promise<void> {
  await waitFor(async () => JSON.stringify(await shownRunIds()) === JSON.stringify(expected), {
    timeoutMs: UI_TIMEOUT,
    intervalMs: 50,
    what: `${what}: rows ${expected.join(", ")}`,
  });
}

/** A Date as a datetime-local input takes it: local time, to the second. */
function localInput(date: Date): string {
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

beforeAll(async () => {
  [server, browser] = await Promise.all([startDashboardServer(), launchBrowser()]);
  const start = (runId: string, tags: Record<string, string>) =>
    server.baton.start("approval", { orderId: runId }, { runId, tags });
  const first = await start("s-1", { customer: "c-17" });
  // The page's time inputs have whole seconds: the later runs are created in a later second
  // than the first (a condition on the clock, polled).
  between = new Date(Math.floor(Date.parse(first.createdAt) / 1000) * 1000 + 1000);
  await waitFor(() => Date.now() > between.getTime(), { intervalMs: 20, what: "the next second" });
  await start("s-2", { customer: "c-18" });
  await start("s-3", { customer: "c-17", region: "eu" });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on("pageerror", (error) => console.error("page error:", error));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("the runs page's search", () => {
  it("filters by tags typed in, AND-ed, keeps them in the URL, and shows each run's tags", async () => {
    await page.goto(server.url);
    await expectRows(["s-3", "s-2", "s-1"], "every run");
    const tags = page.getByLabel("Tags");
    await tags.fill("customer:c-17");
    await tags.press("Enter");
    await expectRows(["s-3", "s-1"], "customer c-17");
    expect(new URL(page.url()).searchParams.get("tag")).toBe("customer:c-17");
    const chips = await page
      .locator("tr[data-run-id=s-3] .tag-chip")
      .evaluateAll((els: DomElement[]) => els.map((el) => el.getAttribute("data-tag")));
    expect(chips).toEqual(["customer:c-17", "region:eu"]);

    await tags.fill("customer:c-17 region:eu");
    await tags.press("Enter");
    await expectRows(["s-3"], "customer c-17 in region eu");
    await screenshot(page, "runs-search-tags");

    await tags.fill("customer:nobody");
    await tags.press("Enter");
    await expectRows([], "a tag no run has");
    await page.getByText("No runs match these filters.").waitFor({ timeout: UI_TIMEOUT });
  });

  it("filters by creation time range, alone and with a tag, from the inputs and from the URL", async () => {
    await page.goto(`${server.url}/?to=${encodeURIComponent(between.toISOString())}`);
    await expectRows(["s-1"], "created before the second");
    expect(await page.getByLabel("Created before").inputValue()).toBe(localInput(between));

    await page.goto(server.url);
    await expectRows(["s-3", "s-2", "s-1"], "every run");
    await page.getByLabel("Created from").fill(localInput(between));
    await expectRows(["s-3", "s-2"], "created from the second on");
    expect(new URL(page.url()).searchParams.get("from")).toBe(between.toISOString());

    const tags = page.getByLabel("Tags");
    await tags.fill("customer:c-17");
    await tags.press("Enter");
    await expectRows(["s-3"], "customer c-17 created from the second on");

    await page.getByRole("button", { name: "Clear filters" }).click();
    await expectRows(["s-3", "s-2", "s-1"], "every run again");
  });
});
