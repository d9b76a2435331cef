import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO } from "./packed-install.js";

/**
 * The exports map, the build and the files list agree, without building: each public entry
 * point has its source in src/ and its compiled files where tsconfig.build.json puts them, and
 * everything the compiled code reads at run time is packed. package.test.ts checks the built
 * package itself.
 */

interface Manifest {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
}

const manifest = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as Manifest;

describe("package.json", () => {
  const entries = Object.entries(manifest.exports).filter(
    ([subpath]) => subpath !== "./package.json",
  );

  it("names, for every subpath, its source and its compiled JavaScript and declarations", () => {
    expect(entries.map(([subpath]) => subpath)).toEqual([".", "./worker", "./client", "./testing"]);
    for (const [subpath, target] of entries) {
      expect(typeof target, subpath).toBe("object");
      const conditions = target as Record<string, string>;
      // Order matters: the first condition that applies wins, and "default" must come last.
      expect(Object.keys(conditions), subpath).toEqual(["baton-source", "types", "default"]);
      const source = conditions["baton-source"]!;
      expect(existsSync(join(REPO, source)), `${source} exists`).toBe(true);
      const compiled = source.replace(/^\.\/src\//, "./dist/").replace(/\.ts$/, "");
      expect(conditions.types, subpath).toBe(`${compiled}.d.ts`);
      expect(conditions.default, subpath).toBe(`${compiled}.js`);
    }
  });

  it("builds src/ into dist/ with the same layout, so paths relative to a module hold in both", () => {
    const { config } = ts.readConfigFile(join(REPO, "tsconfig.build.json"), (path) =>
      readFileSync(path, "utf8"),
    ) as { config: { compilerOptions: Record<string, unknown>; include: string[] } };
    expect(config.compilerOptions).toMatchObject({
      rootDir: "src",
      outDir: "dist",
      declaration: true,
      noEmit: false,
    });
    expect(config.include).toEqual(["src"]);
    expect(manifest.scripts.prepare).toMatch(/npm run build\b/);
    expect(manifest.scripts.prepare).toMatch(/npm run build:ui\b/);
  });

  it("packs what the compiled code reads at run time, and a bin that exists", () => {
    for (const needed of ["dist", "migrations", "ui/dist", "README.md", "docs"]) {
      expect(manifest.files, needed).toContain(needed);
    }
    expect(manifest.files).toContain(manifest.bin.baton);
    expect(existsSync(join(REPO, manifest.bin.baton!))).toBe(true);
  });
});
