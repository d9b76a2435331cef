import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The tests serve the built dashboard (ui/dist), as `npm start` does. `npm install` builds it;
 * this rebuilds it when a source file is newer, so a test never runs against a stale page.
 */

const REPO = join(import.meta.dirname, "..", "..");
const UI = join(REPO, "ui");
const BUILT = join(UI, "dist", "index.html");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "dist" || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(BUILT).mtimeMs;
  } catch {
    return 0;
  }
}

/** Test files run in parallel: one build at a time, and a build another file made is used. */
function withLock(fn: () => void): void {
  const lock = join(tmpdir(), "baton-ui-build.lock");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`waited 2 min for ${lock}; remove it if stale`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    fn();
  } finally {
    rmdirSync(lock);
  }
}

export function ensureDashboardBuilt(): void {
  const srcNewest = Math.max(
    newestSource(join(UI, "src")),
    statSync(join(UI, "index.html")).mtimeMs,
  );
  if (builtAt() >= srcNewest) return;
  withLock(() => {
    if (builtAt() >= srcNewest) return;
    execFileSync(
      join(REPO, "node_modules", ".bin", "vite"),
      ["build", "ui", "--logLevel", "warn"],
      {
        cwd: REPO,
        stdio: ["ignore", "inherit", "inherit"],
        timeout: 120_000,
      },
    );
  });
}
