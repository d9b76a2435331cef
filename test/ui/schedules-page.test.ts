import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Baton, schedule, silentLogger, workflow } from "../../src/index.js";
import { tempDbUrl } from "../support/temp-db.js";
import { waitFor } from "../support/wait-for.js";
import { launchBrowser, screenshotBothThemes } from "./browser.js";
import { ensureDashboardBuilt } from "./dashboard-build.js";

/**
 * The dashboard's Schedules page in a real browser against a real server: next fire times, last
 * runs, and the pause, resume and trigger buttons acting on the server.
 */

const UI_TIMEOUT = 15_000;

/** What the page function below reads of an element (this project's TypeScript has no DOM types). */
interface DomElement {
  getAttribute(name: string): string | null;
}

const report = workflow("report", async (ctx, input: { kind: string }) =>
  ctx.step("write", () => ({ wrote: input.kind })),
);
const nightly = schedule("nightly", {
  cron: "0 3 * * *",
  timezone: "Europe/Berlin",
  workflow: report,
  input: { kind: "nightly" },
});

let baton: Baton;
let url: string;
let browser: Browser;
let page: Page;
const db = tempDbUrl("schedules-page");

beforeAll(async () => {
  ensureDashboardBuilt();
  baton = await Baton.open({
    db: db.url,
    workflows: [report],
    schedules: [nightly],
    logger: silentLogger,
  });
  ({ url } = await baton.serve({ port: 0, logger: false }));
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await baton?.close();
  db.cleanup();
});

describe("the Schedules page", () => {
  it("shows next fire times and last runs; pauses, triggers and resumes", async () => {
    await page.goto(url);
    await page.getByRole("link", { name: "Schedules" }).click();
    const card = page.locator("[data-schedule=nightly]");
    await card.waitFor({ timeout: UI_TIMEOUT });
    const nextTimes = card
      .getByRole("list", { name: "Next fire times of nightly" })
      .locator("time");
    await nextTimes.first().waitFor({ timeout: UI_TIMEOUT });
    const expected = (await baton.schedules.get("nightly")).nextFireTimes;
    expect(
      await nextTimes.evaluateAll((els: DomElement[]) =>
        els.map((el) => el.getAttribute("datetime")),
      ),
    ).toEqual(expected);
    await expect(card.textContent()).resolves.toContain("No runs yet.");

    await card.getByRole("button", { name: "Pause" }).click();
    await waitFor(async () => (await baton.schedules.get("nightly")).paused, { what: "paused" });
    await card.getByText("None while paused.").waitFor({ timeout: UI_TIMEOUT });
    await card.getByRole("button", { name: "Resume" }).waitFor({ timeout: UI_TIMEOUT });

    await card.getByRole("button", { name: "Trigger now" }).click();
    const runLink = card.getByRole("list", { name: "Last runs of nightly" }).getByRole("link");
    await runLink.first().waitFor({ timeout: UI_TIMEOUT });
    const runId = (await runLink.first().textContent()) ?? "";
    expect(runId).toMatch(/^nightly:manual:\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    expect((await baton.wait(runId, 10_000)).status).toBe("completed");
    await card.locator(`[data-status=completed]`).first().waitFor({ timeout: UI_TIMEOUT });
    await screenshotBothThemes(page, "schedules");

    await card.getByRole("button", { name: "Resume" }).click();
    await waitFor(async () => !(await baton.schedules.get("nightly")).paused, { what: "resumed" });
    await nextTimes.first().waitFor({ timeout: UI_TIMEOUT });
    await runLink.first().click();
    await page.getByTestId("run-page").waitFor({ timeout: UI_TIMEOUT });
    expect(decodeURIComponent(new URL(page.url()).pathname)).toBe(`/runs/${runId}`);
  });
});
