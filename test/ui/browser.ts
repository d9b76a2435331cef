import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

/**
 * Debian's Chromium driven by playwright-core (npm cannot download browsers here). A machine
 * without it gets it from .ci/chromium.sh once; if that fails the tests fail, saying how to fix
 * it — a dashboard test that skips itself would hide a broken dashboard.
 */

const CHROMIUM = "/usr/bin/chromium";
const REPO = join(import.meta.dirname, "..", "..");
export const ARTIFACTS = join(REPO, "test-artifacts", "ui");

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  try {
    execFileSync("bash", [join(REPO, ".ci", "chromium.sh")], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 5 * 60_000,
    });
  } catch (e) {
    throw new Error(
      `the dashboard tests need Chromium at ${CHROMIUM}, and installing it failed ` +
        `(${e instanceof Error ? e.message : String(e)}); run 'bash .ci/chromium.sh' as root`,
    );
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `.ci/chromium.sh ran but ${CHROMIUM} is still missing; install Debian's chromium`,
    );
  }
}

export async function launchBrowser(): Promise<Browser> {
  ensureChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/** A full-page PNG in test-artifacts/ui/, for people to look at. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: "disabled" });
  return path;
}

/** The same page in the light and the dark theme (the system's preference, as a browser sets it). */
export async function screenshotBothThemes(page: Page, name: string): Promise<void> {
  await page.emulateMedia({ colorScheme: "light" });
  await screenshot(page, `${name}-light`);
  await page.emulateMedia({ colorScheme: "dark" });
  await screenshot(page, `${name}-dark`);
  await page.emulateMedia({ colorScheme: "light" });
}
