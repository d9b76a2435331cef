import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhookReceiver } from "../webhooks/receiver.js";
import { waitFor } from "../support/wait-for.js";
import { launchBrowser, screenshotBothThemes } from "./browser.js";
import { startDashboardServer, type DashboardServer } from "./dashboard-fixture.js";

/**
 * The Webhooks page in a real browser against a real server: a subscription made in the page,
 * a real receiver that fails once then answers 200, the attempts shown, and the subscription
 * deleted from the page.
 */

const UI_TIMEOUT = 15_000;

let server: DashboardServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let receiver: WebhookReceiver;
let receiverUrl: string;

beforeAll(async () => {
  receiver = new WebhookReceiver((n) => (n === 1 ? 503 : 200));
  [server, browser, receiverUrl] = await Promise.all([
    startDashboardServer({
      webhooks: { pollMs: 100, retry: { initialIntervalMs: 200, jitter: 0 } },
    }),
    launchBrowser(),
    receiver.listen(),
  ]);
  context = await browser.newContext({
    viewport: { width: 1360, height: 900 },
    colorScheme: "light",
  });
  page = await context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
  await receiver?.close();
});

describe("the Webhooks page", () => {
  it("refuses a bad URL with the server's reason, then makes a subscription and shows its secret once", async () => {
    await page.goto(`${server.url}/webhooks`);
    await page.getByText("No subscriptions.").waitFor({ timeout: UI_TIMEOUT });

    await page.getByRole("button", { name: "New subscription…" }).click();
    await page.getByLabel("URL").fill("ftp://example.com/in");
    await page.getByLabel(/^Topics/).fill("run.completed");
    await page.getByRole("button", { name: "Subscribe" }).click();
    await page
      .getByRole("alert")
      .filter({ hasText: "http or https" })
      .waitFor({ timeout: UI_TIMEOUT });

    await page.getByLabel("URL").fill(receiverUrl);
    await page.getByRole("button", { name: "Subscribe" }).click();
    const shown = page.getByTestId("new-secret");
    await shown.waitFor({ timeout: UI_TIMEOUT });
    const secret = (await shown.locator(".secret").textContent()) ?? "";
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    receiver.secret = secret;
    const [subscription] = await server.baton.webhooks.list();
    expect(subscription).toMatchObject({ url: receiverUrl, topics: ["run.completed"] });
    await page
      .locator(`[data-subscription="${subscription!.id}"]`)
      .waitFor({ timeout: UI_TIMEOUT });
  });

  it("lists a subscription's attempts: the failure, then the delivery", async () => {
    await server.baton.start("approval", { orderId: "w-1" }, { runId: "w-1" });
    await server.baton.signal("w-1", "decision", { approved: true });
    await waitFor(() => receiver.effects.size === 1, {
      what: "the delivery",
      timeoutMs: UI_TIMEOUT,
    });

    const table = page.getByTestId("deliveries");
    await waitFor(async () => (await table.locator('tr[data-outcome="delivered"]').count()) === 1, {
      what: "the delivered attempt on the page",
      timeoutMs: UI_TIMEOUT,
      intervalMs: 100,
    });
    expect(await table.locator('tr[data-outcome="failed"]').count()).toBe(1);
    expect(await table.locator('tr[data-outcome="failed"]').textContent()).toContain("HTTP 503");
    await page.getByTestId("new-secret").getByRole("button", { name: "Done" }).click();
    await screenshotBothThemes(page, "webhooks");
  });

  it("deletes a subscription after asking", async () => {
    await page.getByRole("button", { name: "Delete…" }).click();
    await page.getByRole("button", { name: "Delete subscription" }).click();
    await page.getByText("No subscriptions.").waitFor({ timeout: UI_TIMEOUT });
    expect(await server.baton.webhooks.list()).toEqual([]);
  });
});
