import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait-for.js";
import { launchBrowser, screenshot, screenshotBothThemes } from "./browser.js";
import { TOKEN, startDashboardServer, type DashboardServer } from "./dashboard-fixture.js";

/**
 * The dashboard in a real browser against a real server with real runs, token auth on: the
 * page asks for the token once and uses it for every call and stream after that.
 */

const ORDER = { sku: "SKU-0042", qty: 3, amount: 4321 };

/** What the page functions below read of an element (this project's TypeScript has no DOM types). */
interface DomElement {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}
const UI_TIMEOUT = 15_000;

let server: DashboardServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let tokenPrompts = 0;

async function start(workflow: string, runId: string, input: unknown): Promise<void> {
  await server.baton.start(workflow, input, { runId });
}

async function waitForStatus(runId: string, status: string): Promise<void> {
  await waitFor(async () => (await server.baton.get(runId)).status === status, {
    timeoutMs: 10_000,
    what: `${runId} to be ${status}`,
  });
}

/** The run ids the runs table shows, top to bottom. */
async function shownRunIds(): Promise<string[]> {
  return page
    .locator("[data-testid=runs-table] tbody tr")
    .evaluateAll((rows: DomElement[]) => rows.map((row) => row.getAttribute("data-run-id") ?? ""));
}

async function expectRows(predicate: (ids: string[]) => boolean, what: string): Promise<string[]> {
  return waitFor(
    async () => {
      const ids = await shownRunIds();
      return predicate(ids) ? ids : undefined;
    },
    { timeoutMs: UI_TIMEOUT, intervalMs: 50, what },
  );
}

function statusOf(locator: Locator): Promise<string | null> {
  return locator.locator("[data-status]").first().getAttribute("data-status");
}

async function openRun(runId: string): Promise<void> {
  await page.goto(`${server.url}/runs/${encodeURIComponent(runId)}`);
  await page.getByTestId("run-page").waitFor({ timeout: UI_TIMEOUT });
  // The run and its journal arrive in two requests: wait for both to be on the page.
  await page.getByTestId("timeline").waitFor({ timeout: UI_TIMEOUT });
  await page
    .getByTestId("journal")
    .locator("tr[data-type]")
    .first()
    .waitFor({ timeout: UI_TIMEOUT });
}

beforeAll(async () => {
  [server, browser] = await Promise.all([startDashboardServer({ token: TOKEN }), launchBrowser()]);
  const { order } = server;

  await start("fulfilment", "f-1", { orderId: "f-1" });
  await start("placeOrder", "o-ok-1", { orderId: "o-ok-1", ...ORDER });
  await start("placeOrder", "o-ok-2", { orderId: "o-ok-2", ...ORDER });
  await server.baton.wait("f-1", 10_000);
  await server.baton.wait("o-ok-1", 10_000);
  await server.baton.wait("o-ok-2", 10_000);

  order.faults.shipFails = true;
  await start("placeOrder", "o-comp", { orderId: "o-comp", ...ORDER });
  await waitForStatus("o-comp", "compensated");
  order.faults.refundFails = true;
  await start("placeOrder", "o-fail", { orderId: "o-fail", ...ORDER });
  await waitForStatus("o-fail", "failed");

  await start("approval", "a-1", { orderId: "a-1" });
  await start("approval", "a-2", { orderId: "a-2" });
  await waitForStatus("a-1", "waiting");
  await waitForStatus("a-2", "waiting");

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
});

describe("the dashboard", () => {
  it("asks for the token once, then lists every run newest first", async () => {
    await page.goto(server.url);
    const tokenField = page.getByLabel("Token", { exact: true });
    await tokenField.waitFor({ timeout: UI_TIMEOUT });
    tokenPrompts++;
    await tokenField.fill(TOKEN);
    await page.getByRole("button", { name: "Continue" }).click();

    const ids = await expectRows((shown) => shown.includes("a-2"), "the runs to load");
    for (const runId of ["f-1", "o-ok-1", "o-ok-2", "o-comp", "o-fail", "a-1", "a-2"]) {
      expect(ids).toContain(runId);
    }
    // Newest first: a-2 started last.
    expect(ids[0]).toBe("a-2");
    await screenshotBothThemes(page, "runs");
  });

  it("filters by status and workflow and searches by run id, in the URL", async () => {
    await page.getByLabel("Status").selectOption("compensated");
    await expectRows((ids) => ids.length === 1 && ids[0] === "o-comp", "only the compensated run");
    expect(page.url()).toContain("status=compensated");

    await page.getByLabel("Status").selectOption("");
    await page.getByLabel("Workflow").selectOption("approval");
    await expectRows(
      (ids) => ids.length === 2 && ids.every((id) => id.startsWith("a-")),
      "only approval runs",
    );

    await page.getByLabel("Workflow").selectOption("");
    await page.getByLabel("Run id starts with").fill("o-ok");
    await expectRows(
      (ids) => ids.length === 2 && ids.every((id) => id.startsWith("o-ok-")),
      "only runs whose id starts with o-ok",
    );

    // Reloading keeps the filters (they live in the URL) and does not ask for the token again.
    await page.reload();
    await expectRows((ids) => ids.length === 2, "the same filtered rows after a reload");
    expect(await page.getByLabel("Token", { exact: true }).count()).toBe(0);

    await page.getByRole("button", { name: "Clear filters" }).click();
    await expectRows((ids) => ids.includes("a-2") && ids.includes("f-1"), "every run again");
  });

  it("updates the table live when a run starts or changes", async () => {
    await expectRows((ids) => ids.includes("a-2"), "the unfiltered table");
    server.order.faults.shipFails = false;
    await start("placeOrder", "o-live", { orderId: "o-live", ...ORDER });
    const ids = await expectRows((shown) => shown[0] === "o-live", "the new run on top");
    expect(ids[0]).toBe("o-live");
    await waitFor(
      async () => (await statusOf(page.locator('tr[data-run-id="o-live"]'))) === "completed",
      { timeoutMs: UI_TIMEOUT, intervalMs: 50, what: "o-live to show completed" },
    );
  });

  it("opens a run from the table with the keyboard", async () => {
    await page.keyboard.press("/");
    expect(await page.evaluate("document.activeElement?.id")).toBe("filter-search");
    await page.locator('a.run-link[href="/runs/o-comp"]').focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("run-page").waitFor({ timeout: UI_TIMEOUT });
    expect(new URL(page.url()).pathname).toBe("/runs/o-comp");
  });

  it("shows the compensations of a compensated run after the failure, refund before release", async () => {
    await openRun("o-comp");
    expect(
      await page.getByTestId("run-status").locator("[data-status]").getAttribute("data-status"),
    ).toBe("compensated");
    const timeline = page.getByTestId("timeline");
    const main = await timeline
      .locator(".timeline-row:not(.is-compensation)")
      .evaluateAll((rows: DomElement[]) => rows.map((row) => row.getAttribute("data-name")));
    expect(main).toEqual(["inventory.reserve", "payments.charge", "shipping.ship"]);
    const compensations = await timeline
      .locator(".timeline-row.is-compensation")
      .evaluateAll((rows: DomElement[]) =>
        rows.map((row) => ({
          name: row.getAttribute("data-name"),
          outcome: row.getAttribute("data-outcome"),
          start: Number(row.getAttribute("data-start")),
          end: Number(row.getAttribute("data-end")),
          text: row.textContent ?? "",
        })),
      );
    expect(compensations.map((c) => c.name)).toEqual(["payments.refund", "inventory.release"]);
    const [refund, release] = compensations as [
      (typeof compensations)[0],
      (typeof compensations)[0],
    ];
    expect(refund.end).toBeLessThanOrEqual(release.start);
    expect(refund.text).toContain("undoes #2 payments.charge");
    expect(release.text).toContain("undoes #1 inventory.reserve");
    expect(compensations.every((c) => c.outcome === "completed")).toBe(true);
    // The ship step failed; the path ends compensated, and that is where the run is.
    expect(
      await timeline
        .locator('.timeline-row[data-name="shipping.ship"]')
        .getAttribute("data-outcome"),
    ).toBe("failed");
    const graph = page.getByTestId("path-graph");
    expect(await graph.locator(".path-node.is-compensation.node-step").count()).toBe(2);
    expect(await graph.locator("[data-current]").getAttribute("aria-label")).toContain(
      "compensated",
    );
    await expect(
      page.getByTestId("journal").locator("tr[data-type='run.compensating']").count(),
    ).resolves.toBe(1);
    await screenshotBothThemes(page, "run-compensated");

    // A step opens its details, with its own journal entries.
    await timeline.locator('.timeline-row[data-name="payments.refund"] button').click();
    const details = page.getByTestId("step-details");
    await details.waitFor();
    expect(await details.textContent()).toContain("call.completed");
  });

  it("retries a failed run from the page and shows it end compensated without a reload", async () => {
    await openRun("o-fail");
    const status = page.getByTestId("run-status").locator("[data-status]");
    expect(await status.getAttribute("data-status")).toBe("failed");
    expect(await page.getByTestId("run-error").textContent()).toContain("COMPENSATION_FAILED");
    const refund = page
      .getByTestId("timeline")
      .locator('.timeline-row[data-name="payments.refund"]');
    expect(await refund.getAttribute("data-outcome")).toBe("failed");
    // Drawn once the timeline has laid out its axis: wait for it on a loaded machine.
    await waitFor(async () => (await refund.locator(".timeline-attempt").count()) >= 2, {
      timeoutMs: UI_TIMEOUT,
      what: "the refund's attempts on the timeline",
    });
    await screenshot(page, "run-failed-light");

    server.order.faults.refundFails = false;
    await page.evaluate("window.stillTheSamePage = true");
    // The dialog says what will happen; Escape leaves without retrying.
    await page.getByRole("button", { name: "Retry…" }).click();
    const dialog = page.getByRole("dialog", { name: "Retry this run?" });
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect((await server.baton.get("o-fail")).status).toBe("failed");

    await page.getByRole("button", { name: "Retry…" }).click();
    await page.getByRole("button", { name: "Retry run" }).click();
    await page
      .getByTestId("toast")
      .filter({ hasText: "Retry requested" })
      .waitFor({ timeout: UI_TIMEOUT });
    await status.and(page.locator('[data-status="compensated"]')).waitFor({ timeout: UI_TIMEOUT });

    expect(await page.evaluate("window.stillTheSamePage")).toBe(true);
    expect((await server.baton.get("o-fail")).status).toBe("compensated");
    await waitFor(async () => (await refund.getAttribute("data-outcome")) === "completed", {
      timeoutMs: UI_TIMEOUT,
      what: "the refund to show completed",
    });
    // The failure the retry set aside stays visible on the refund's bar (the journal follows the run).
    await refund.locator(".timeline-attempt.is-voided").waitFor({ timeout: UI_TIMEOUT });
    expect(await refund.locator(".timeline-attempt.is-voided").count()).toBe(1);
    expect(
      await page.getByTestId("timeline").locator(".timeline-marker.marker-run-retried").count(),
    ).toBe(1);
    await screenshotBothThemes(page, "run-retried-compensated");
  });

  it("resumes a waiting run with a signal sent from the page", async () => {
    await openRun("a-1");
    const status = page.getByTestId("run-status").locator("[data-status]");
    expect(await status.getAttribute("data-status")).toBe("waiting");
    expect(await page.getByTestId("waiting-on").textContent()).toContain("decision");
    await screenshotBothThemes(page, "run-waiting");

    await page.getByRole("button", { name: "Send signal…" }).click();
    const name = page.getByLabel("Signal name");
    expect(await name.inputValue()).toBe("decision");
    // A payload that is not JSON is refused before anything is sent.
    await page.getByLabel("Payload (JSON, optional)").fill("{approved: yes}");
    await page.getByRole("button", { name: "Send signal", exact: true }).click();
    await page.getByText("The payload is not JSON").waitFor();
    await page.getByLabel("Payload (JSON, optional)").fill('{"approved": true}');
    await page.getByRole("button", { name: "Send signal", exact: true }).click();

    await page
      .getByTestId("toast")
      .filter({ hasText: "Signal decision sent" })
      .waitFor({ timeout: UI_TIMEOUT });
    await status.and(page.locator('[data-status="completed"]')).waitFor({ timeout: UI_TIMEOUT });
    const run = await server.baton.get("a-1");
    expect(run.status).toBe("completed");
    expect(run.output).toEqual({ orderId: "a-1", approved: true });
    expect(await page.locator('pre[aria-label="Output"]').textContent()).toContain(
      '"approved": true',
    );
  });

  it("cancels a run after confirmation", async () => {
    await openRun("a-2");
    await page.getByRole("button", { name: "Cancel run…" }).click();
    await page
      .getByLabel("Reason (optional, kept in the journal)")
      .fill("customer changed their mind");
    await page.getByRole("button", { name: "Cancel run", exact: true }).click();
    await page
      .getByTestId("run-status")
      .locator('[data-status="cancelled"]')
      .waitFor({ timeout: UI_TIMEOUT });
    expect((await server.baton.get("a-2")).status).toBe("cancelled");
    // No actions are left for a run that ended.
    expect(await page.getByRole("button", { name: "Cancel run…" }).count()).toBe(0);
  });

  it("retries, then skips, a failed compensation from the page, and the run ends failed", async () => {
    await start("reservation", "r-1", { orderId: "r-1" });
    // Actions are checked against the run's stored row, which the list reads.
    const waitForOperator = (compensations: number) =>
      waitFor(
        async () => {
          const [{ runs }, run] = await Promise.all([
            server.baton.list({ runIdPrefix: "r-1" }),
            server.baton.get("r-1"),
          ]);
          return (
            runs[0]?.waitingOn?.kind === "operator" &&
            run.steps.filter((step) => step.compensates === 1).length === compensations
          );
        },
        { timeoutMs: 10_000, what: `r-1 to wait for an operator after ${compensations} tries` },
      );
    await waitForOperator(1);
    await openRun("r-1");
    const status = page.getByTestId("run-status").locator("[data-status]");
    expect(await status.getAttribute("data-status")).toBe("compensating");
    const panel = page.getByTestId("failed-compensation");
    await panel.waitFor({ timeout: UI_TIMEOUT });
    expect(await panel.getByRole("heading").textContent()).toBe(
      "Compensation of hold-table failed: step free-table (seq 3) failed: " +
        "the booking system refused to free r-1",
    );
    await screenshotBothThemes(page, "run-compensation-failed");

    // Retry, with the keyboard: the compensation runs again, fails again, and waits again.
    await panel.getByRole("button", { name: "Retry compensation…" }).focus();
    await page.keyboard.press("Enter");
    const retryDialog = page.getByRole("dialog", { name: "Retry this compensation?" });
    await retryDialog.waitFor();
    await page.keyboard.press("Escape");
    await retryDialog.waitFor({ state: "detached" });
    await panel.getByRole("button", { name: "Retry compensation…" }).click();
    await retryDialog.getByRole("button", { name: "Retry compensation", exact: true }).click();
    await page
      .getByTestId("toast")
      .filter({ hasText: "Retry requested: the compensation of hold-table runs again." })
      .waitFor({ timeout: UI_TIMEOUT });
    await waitForOperator(2);
    await panel
      .getByRole("heading")
      .filter({ hasText: "(seq 4)" })
      .waitFor({ timeout: UI_TIMEOUT });

    // Skip: the rollback goes on without it, and the run ends failed.
    await panel.getByRole("button", { name: "Skip compensation…" }).click();
    const skipDialog = page.getByRole("dialog", { name: "Skip this compensation?" });
    expect(await skipDialog.textContent()).toContain("PARTIALLY_COMPENSATED");
    await skipDialog.getByRole("button", { name: "Skip compensation", exact: true }).click();
    await page
      .getByTestId("toast")
      .filter({ hasText: "Skip recorded: hold-table stays undone" })
      .waitFor({ timeout: UI_TIMEOUT });
    await status.and(page.locator('[data-status="failed"]')).waitFor({ timeout: UI_TIMEOUT });
    expect(await page.getByTestId("run-error").textContent()).toContain("PARTIALLY_COMPENSATED");
    expect(await panel.count()).toBe(0);
    const run = await server.baton.get("r-1");
    expect(run).toMatchObject({ status: "failed", error: { code: "PARTIALLY_COMPENSATED" } });
  });

  it("draws parallel steps as branches, the timer as a wait, and links the child run", async () => {
    await openRun("f-1");
    const timeline = page.getByTestId("timeline");
    expect(
      await timeline.locator('.timeline-row[data-kind="sleep"] .timeline-bar.is-wait').count(),
    ).toBe(1);
    const graph = page.getByTestId("path-graph");
    const picks = await graph
      .locator(".path-node.node-step")
      .evaluateAll((nodes: DomElement[]) =>
        nodes
          .filter((node) => (node.getAttribute("aria-label") ?? "").includes("pick-"))
          .map((node) => node.getAttribute("transform")),
      );
    // Three picks in one stage: the same x, stacked.
    const xs = new Set(picks.map((t) => /translate\(([\d.]+)/.exec(t ?? "")?.[1]));
    expect(picks).toHaveLength(3);
    expect(xs.size).toBe(1);
    await timeline.locator('.timeline-row[data-kind="child"] button').click();
    await page
      .getByTestId("step-details")
      .getByRole("link", { name: /^f-1:\d+$/ })
      .waitFor();
    await screenshotBothThemes(page, "run-fulfilment");
  });

  it("shows a card per service and the workflows with their counts and recent failures", async () => {
    await page.getByRole("link", { name: "Services" }).click();
    const labels = page.locator('[data-service="labels"]');
    await labels.waitFor({ timeout: UI_TIMEOUT });
    for (const name of ["inventory", "payments", "shipping", "labels"]) {
      expect(await page.locator(`[data-service="${name}"]`).count()).toBe(1);
    }
    const labelsText = await labels.textContent();
    expect(labelsText).toContain("queue");
    await waitFor(async () => /Workers\s*1/.test((await labels.textContent()) ?? ""), {
      timeoutMs: UI_TIMEOUT,
      what: "the labels worker to show",
    });
    expect(await page.locator('[data-service="payments"]').textContent()).toMatch(/Failed\s*[1-9]/);
    await screenshotBothThemes(page, "services");

    await page.getByRole("link", { name: "Workflows" }).click();
    const placeOrder = page.locator('[data-workflow="placeOrder"]');
    await placeOrder.waitFor({ timeout: UI_TIMEOUT });
    await placeOrder.getByText("Recent failures").waitFor({ timeout: UI_TIMEOUT });
    const text = (await placeOrder.textContent()) ?? "";
    expect(text).toContain("o-comp");
    expect(text).toContain("o-fail");
    expect(
      await placeOrder.getByRole("link", { name: "2 compensated runs of placeOrder" }).count(),
    ).toBe(1);
    // Its versions, with runs in flight, and the one new runs take.
    const v1 = placeOrder
      .getByRole("list", { name: "Versions of placeOrder" })
      .locator('[data-version="1"]');
    expect(await v1.textContent()).toMatch(/^v1\s*\d+\s*in flight of \d+\s*new runs$/);
    await screenshotBothThemes(page, "workflows");

    // Still the one token prompt of the first test.
    expect(tokenPrompts).toBe(1);
    expect(await page.getByLabel("Token", { exact: true }).count()).toBe(0);
  });

  it("switches between light and dark with the theme button", async () => {
    const theme = page.getByRole("button", { name: /^Theme:/ });
    await theme.click(); // system → light
    expect(await page.evaluate("document.documentElement.dataset.theme")).toBe("light");
    await theme.click(); // light → dark
    expect(await page.evaluate("document.documentElement.dataset.theme")).toBe("dark");
    const background = await page.evaluate(
      "getComputedStyle(document.documentElement).backgroundColor",
    );
    expect(background).toBe("rgb(14, 17, 22)");
    await theme.click(); // back to the system's
    expect(await page.evaluate("document.documentElement.dataset.theme")).toBeUndefined();
  });
});
