import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh SQLite file per test, removed afterwards. */
export function tempDbUrl(name = "baton"): {
  url: string;
  path: string;
  dir: string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), "baton-test-"));
  const path = join(dir, `${name}.db`);
  return {
    url: `sqlite:${path}`,
    path,
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
