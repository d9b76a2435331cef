import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The documentation and the code refer only to files that are in the repository: every
 * relative link of a Markdown file resolves, and nothing cites the design notes the project
 * started from, which are not part of it.
 */

const REPO = join(import.meta.dirname, "..", "..");
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
  cwd: REPO,
  encoding: "utf8",
})
  .split("\n")
  .filter((file) => file && existsSync(join(REPO, file)));

describe("references", () => {
  it("every relative link in README.md and docs/ points at a file that exists", () => {
    const broken: string[] = [];
    for (const file of files.filter((f) => f.endsWith(".md"))) {
      const text = readFileSync(join(REPO, file), "utf8");
      for (const [, target = ""] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:|^#/.test(target)) continue; // a URL, or an anchor on the same page
        const path = join(REPO, dirname(file), target.split("#")[0]!);
        if (!existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("cites no document outside the repository", () => {
    const citations = /CONTRACT(\.md| §)|STYLE(\.md| §)|WORKLOAD\.md|DESIGN(\.md| ")/;
    const citing = files
      .filter((f) => /\.(ts|tsx|js|mjs|md|sql|sh)$/.test(f) || f.startsWith(".ci/"))
      .filter((f) => f !== "test/docs/references.test.ts")
      .filter((f) => citations.test(readFileSync(join(REPO, f), "utf8")));
    expect(citing).toEqual([]);
  });
});
