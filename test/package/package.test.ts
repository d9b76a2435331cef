import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_MJS, APP_PACKAGE_JSON, APP_TS, APP_TSCONFIG } from "./app-files.js";
import {
  REPO,
  cloneRepository,
  localPrebuild,
  pack,
  run,
  tail,
  writeFiles,
} from "./packed-install.js";

/**
 * The package as users get it: `npm pack` in a clone (which builds it through `prepare`), the
 * tarball installed into an empty folder, and there plain Node, strict TypeScript and
 * `npx baton server`, with nothing from this repository on their paths.
 */

/** Each entry of the exports map, the source file of its public API, and its module. */
const ENTRIES = [
  { subpath: ".", specifier: "baton", source: "src/index.ts" },
  { subpath: "./worker", specifier: "baton/worker", source: "src/worker/index.ts" },
  { subpath: "./client", specifier: "baton/client", source: "src/client/index.ts" },
  { subpath: "./testing", specifier: "baton/testing", source: "src/testing/index.ts" },
] as const;

const work = mkdtempSync(join(tmpdir(), "baton-package-"));
const app = join(work, "app");
const installed = join(app, "node_modules", "baton");
const timings: string[] = [];

beforeAll(async () => {
  const started = Date.now();
  const clone = join(work, "clone");
  await cloneRepository(clone);
  const tarball = await pack(clone, work);
  timings.push(
    `clone and npm pack (prepare builds dist/ and ui/dist/): ${Date.now() - started} ms`,
  );
  const prebuild = await localPrebuild(join(work, "prebuilds"));
  writeFiles(app, {
    "package.json": { ...APP_PACKAGE_JSON, overrides: prebuild.overrides },
    "tsconfig.json": APP_TSCONFIG,
    "app.mjs": APP_MJS,
    "app.ts": APP_TS,
  });
  // --prefer-offline: packages come from the npm cache that `npm ci` filled, the registry is
  // asked only for what the cache lacks (package lists, a newer release). TypeScript and Node's
  // types are the app's own, as a TypeScript user would have them.
  const { ms } = await run(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--foreground-scripts",
      tarball,
      "typescript@5.9",
      "@types/node@20",
    ],
    { cwd: app, env: prebuild.env, timeoutMs: 300_000 },
  );
  timings.push(`npm install of the tarball: ${ms} ms`);
}, 420_000);

afterAll(() => {
  console.log(`package test timings:\n  ${timings.join("\n  ")}`);
  rmSync(work, { recursive: true, force: true });
});

describe("the packed package", () => {
  it("exports compiled JavaScript and declarations under every subpath of its exports map", async () => {
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
      exports: Record<string, unknown>;
    };
    expect(Object.keys(manifest.exports).sort()).toEqual(
      [...ENTRIES.map((e) => e.subpath), "./package.json"].sort(),
    );
    // Plain Node, from the app's folder: the names each entry point exports at run time.
    const script = `const names = {};
for (const s of ${JSON.stringify(ENTRIES.map((e) => e.specifier))}) names[s] = Object.keys(await import(s)).sort();
console.log(JSON.stringify(names));`;
    const { stdout } = await run("node", ["--input-type=module", "-e", script], { cwd: app });
    const compiled = JSON.parse(stdout) as Record<string, string[]>;
    // Types too: what the declarations export against what the sources export.
    const sources = ENTRIES.map((e) => join(REPO, e.source));
    const declarations = ENTRIES.map((e) => join(installed, `dist/${e.source.slice(4, -3)}.d.ts`));
    const [sourceTypes, declaredTypes] = [exportedNames(sources), exportedNames(declarations)];
    for (const [i, entry] of ENTRIES.entries()) {
      const source = (await import(join(REPO, entry.source))) as Record<string, unknown>;
      expect(compiled[entry.specifier], `${entry.specifier} at run time`).toEqual(
        Object.keys(source).sort(),
      );
      expect(declaredTypes[i], `${entry.specifier} types`).toEqual(sourceTypes[i]);
    }
  });

  it("runs a saga from `node app.mjs` on SQLite: one order completes, one is compensated", async () => {
    const { stdout, ms } = await run("node", ["app.mjs"], { cwd: app, timeoutMs: 60_000 });
    timings.push(`node app.mjs: ${ms} ms`);
    const result = JSON.parse(stdout) as {
      shipped: { status: string; output: unknown };
      undone: { status: string; error: { code: string } };
      actions: string[];
    };
    expect(result.shipped).toMatchObject({ status: "completed", output: { trackingId: "t-o-1" } });
    expect(result.undone).toMatchObject({ status: "compensated", error: { code: "BAD_ADDRESS" } });
    expect(result.actions.filter((a) => a.includes("o-2"))).toEqual([
      "reserve o-2",
      "charge o-2",
      "refund p-o-2",
      "release res-o-2",
    ]);
  });

  it("type-checks a strict NodeNext TypeScript app against its declarations", async () => {
    const tsc = join(app, "node_modules", "typescript", "bin", "tsc");
    const { ms } = await run("node", [tsc, "-p", "."], { cwd: app, timeoutMs: 120_000 }).catch(
      (e: unknown) => {
        throw new Error(`tsc found errors in app.ts or in Baton's declarations:\n${String(e)}`);
      },
    );
    timings.push(`tsc --noEmit over app.ts: ${ms} ms`);
  });

  it("serves JavaScript and TypeScript workflows with `npx baton server` until SIGTERM", async () => {
    const server = spawn(
      "npx",
      ["--no", "baton", "server", "--workflows", "app.mjs", "app.ts", "--port", "0"],
      {
        cwd: app,
        env: { ...process.env, BATON_DB: `sqlite:${join(app, "server.db")}` },
        stdio: ["ignore", "pipe", "pipe"],
        // A group of its own: npm does not pass SIGTERM on to the command it runs, so the
        // signal goes to the group, as a terminal or a process supervisor sends it.
        detached: true,
      },
    );
    let output = "";
    server.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    // "close", not "exit": npx may end before the server it started, which shares its pipes.
    const exited = new Promise<number | null>((resolve) => server.once("close", resolve));
    const started = Date.now();
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (server.pid !== undefined) process.kill(-server.pid, signal);
      } catch {
        // already gone
      }
    };
    try {
      const url = await waitForOutput(
        () => output,
        /Baton listening on (http:\/\/[\d.]+:\d+)/,
        exited,
      );
      expect(output).toMatch(/"workflows":\["placeOrder","greet"\]/);
      // The dashboard is found from dist/ as from src/ (ui/dist/ is packed).
      const dashboard = await fetch(`${url}/`);
      expect(dashboard.status).toBe(200);
      expect(await dashboard.text()).toContain("<html");
      const order = await startAndWait(url, "placeOrder", "http-o-1", {
        orderId: "http-o-1",
        address: "2 Side St",
      });
      expect(order).toMatchObject({ status: "completed", output: { trackingId: "t-http-o-1" } });
      const greeting = await startAndWait(url, "greet", "http-g-1", { name: "Ada" });
      expect(greeting).toMatchObject({
        status: "completed",
        output: { greeting: { text: "hello Ada" } },
      });

      killGroup("SIGTERM");
      await waitForOutput(() => output, /"msg":"(stopped)"/, exited);
      timings.push(`baton server: start, two runs over HTTP, SIGTERM: ${Date.now() - started} ms`);
    } catch (e) {
      throw new Error(`${String(e)}\n--- baton server output:\n${tail(output)}`);
    } finally {
      killGroup("SIGKILL");
      await exited;
    }
  });
});

async function startAndWait(
  url: string,
  workflow: string,
  runId: string,
  input: unknown,
): Promise<unknown> {
  const response = await fetch(`${url}/v1/workflows/${workflow}/runs?wait=30`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ runId, input }),
  });
  const body = await response.json();
  if (response.status !== 201) {
    throw new Error(`starting ${workflow}: HTTP ${response.status} ${JSON.stringify(body)}`);
  }
  return body;
}

/** The first group of `pattern` once the output has it; fails when the process exits first. */
async function waitForOutput(
  output: () => string,
  pattern: RegExp,
  exited: Promise<number | null>,
  timeoutMs = 30_000,
): Promise<string> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(output());
    if (match) return match[1] ?? match[0];
    if (exitCode !== undefined) throw new Error(`exited (${exitCode}) before printing ${pattern}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** For each module (a source or a declaration file), every name it exports, value or type. */
function exportedNames(files: readonly string[]): string[][] {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  return files.map((file) => {
    const sourceFile = program.getSourceFile(file);
    const symbol = sourceFile && checker.getSymbolAtLocation(sourceFile);
    if (!symbol) throw new Error(`TypeScript found no module in ${file}`);
    return checker
      .getExportsOfModule(symbol)
      .map((s) => s.name)
      .sort();
  });
}
