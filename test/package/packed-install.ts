import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export interface CommandResult {
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end; a failure says which command, how it ended and what it printed. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const ms = Date.now() - started;
        if (!error) return resolve({ stdout, stderr, ms });
        reject(
          new Error(
            `\`${command} ${args.join(" ")}\` in ${options.cwd} failed after ${ms} ms ` +
              `(${error.killed ? "killed: took too long" : `exit ${String(error.code)}`}):\n` +
              `--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`,
          ),
        );
      },
    );
  });
}

export function tail(text: string, chars = 4_000): string {
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

/**
 * A clone of the repository as `git clone` would give it — the files git tracks, plus new ones
 * not yet committed — with the repository's node_modules linked in, as `npm ci` would have filled
 * it. Packing there runs `prepare` (the build) without touching the repository's own dist/ and
 * ui/dist/, which other tests use while this one runs.
 */
export async function cloneRepository(into: string): Promise<void> {
  const { stdout } = await run(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: REPO },
  );
  for (const file of stdout.split("\0")) {
    if (!file || !existsSync(join(REPO, file))) continue; // deleted, not yet committed
    mkdirSync(dirname(join(into, file)), { recursive: true });
    cpSync(join(REPO, file), join(into, file));
  }
  symlinkSync(join(REPO, "node_modules"), join(into, "node_modules"), "dir");
}

/** `npm pack` in `dir`, into `destination`; the tarball's path. */
export async function pack(dir: string, destination: string): Promise<string> {
  const { stdout } = await run(
    "npm",
    ["pack", "--json", "--pack-destination", destination, "--foreground-scripts"],
    { cwd: dir, timeoutMs: 180_000 },
  );
  // prepare's own output comes first (--foreground-scripts); npm's JSON is the last thing printed.
  const packed = JSON.parse(stdout.slice(stdout.lastIndexOf("\n[") + 1)) as { filename: string }[];
  const filename = packed[0]?.filename;
  if (!filename) throw new Error(`npm pack printed no filename:\n${tail(stdout)}`);
  return join(destination, filename);
}

/**
 * better-sqlite3 has no prebuilt binary it can download here (no internet), so its install
 * script compiles it from source: about two minutes. Its installer, prebuild-install, first looks
 * for the prebuilt archive in a local folder (`npm_config_better_sqlite3_local_prebuilds`); we put
 * there an archive of the module the repository's own `npm ci` compiled, for the same Node ABI,
 * platform and architecture, and the app pins better-sqlite3 to that version (npm `overrides`)
 * so that a newer release cannot miss it. npm still installs the tarball and runs every install
 * script for real; only the compiler is skipped. Without a build in the repository nothing is
 * put there and the install compiles as a user's would.
 */
export async function localPrebuild(
  dir: string,
): Promise<{ env: Record<string, string>; overrides: Record<string, string> }> {
  const module = join(REPO, "node_modules", "better-sqlite3");
  const built = join(module, "build", "Release", "better_sqlite3.node");
  if (!existsSync(built)) return { env: {}, overrides: {} };
  const { version } = JSON.parse(readFileSync(join(module, "package.json"), "utf8")) as {
    version: string;
  };
  mkdirSync(dir, { recursive: true });
  // The file name prebuild-install derives from its download URL (glibc Linux, macOS).
  const archive = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run("tar", ["-czf", join(dir, archive), "build/Release/better_sqlite3.node"], {
    cwd: module,
  });
  return {
    env: { npm_config_better_sqlite3_local_prebuilds: dir },
    overrides: { "better-sqlite3": version },
  };
}

export function writeFiles(dir: string, files: Record<string, string | object>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(
      join(dir, name),
      typeof content === "string" ? content : `${JSON.stringify(content, null, 2)}\n`,
    );
  }
}

export function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" });
}
