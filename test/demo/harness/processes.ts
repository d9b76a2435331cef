import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
/**
 * Node arguments that run the `baton` command from its sources, as `npm run baton --` does: the
 * tests exercise src/, not a build of it (test/package/ checks the compiled bin). The condition
 * makes "baton" imports (examples/) resolve to src/ as well.
 */
export const BATON_CLI = [
  "--conditions=baton-source",
  "--import",
  "tsx",
  join(REPO, "src", "cli", "main.ts"),
];
export const EXAMPLE_DIR = join(REPO, "examples", "order-demo");

/** One process a test started, with its output kept for assertions and for failure messages. */
export class TestProcess {
  output = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    /** Leads a process group of its own, which cleanup kills as a whole. */
    readonly isGroupLeader = false,
  ) {
    child.stdout?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid`);
    return this.child.pid;
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match of `pattern` in the output; fails if the process exits first. */
  async waitForOutput(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (!this.isRunning) {
        throw new Error(`${this.name} exited before printing ${pattern}:\n${this.tail()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.tail()}`,
        );
      }
      await sleep(50);
    }
  }

  /** Resolves once the process sends `{ ready: true, ... }` over IPC (the demo's services do). */
  waitForReady(timeoutMs = 30_000): Promise<{ port?: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`${this.name} was not ready within ${timeoutMs} ms:\n${this.tail()}`)),
        timeoutMs,
      );
      this.child.on("message", (message: { ready?: boolean; port?: number }) => {
        if (!message.ready) return;
        clearTimeout(timer);
        resolve(message);
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before it was ready:\n${this.tail()}`));
      });
    });
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.isRunning) this.child.kill(signal);
  }

  tail(chars = 3_000): string {
    return this.output.slice(-chars);
  }
}

/** Every process a test file starts, killed (with their process groups) after each test. */
export class ProcessGroup {
  private readonly processes: TestProcess[] = [];

  /** Runs a TypeScript file with tsx's loader, with an IPC channel: it exits when we do. */
  startTs(
    name: string,
    file: string,
    args: string[],
    env: Record<string, string> = {},
  ): TestProcess {
    return this.spawn(name, process.execPath, ["--conditions=baton-source", "--import", "tsx", file, ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
  }

  /** Runs the `baton` command, as `npx baton` would (from the sources, see BATON_CLI). */
  startBaton(name: string, args: string[], env: Record<string, string> = {}): TestProcess {
    return this.spawn(name, process.execPath, [...BATON_CLI, ...args], { env });
  }

  spawn(
    name: string,
    command: string,
    args: string[],
    options: {
      env?: Record<string, string>;
      stdio?: SpawnOptions["stdio"];
      detached?: boolean;
    } = {},
  ): TestProcess {
    const child = spawn(command, args, {
      cwd: REPO,
      env: withoutToken({ ...process.env, BATON_URL: "", PORT: "" }, options.env),
      stdio: options.stdio ?? ["ignore", "pipe", "pipe"],
      detached: options.detached ?? false,
    });
    const started = new TestProcess(name, child, options.detached ?? false);
    this.processes.push(started);
    return started;
  }

  /** SIGKILLs whatever still runs, process groups included, and waits for the exits. */
  async killAll(): Promise<void> {
    const all = this.processes.splice(0);
    for (const p of all) {
      if (p.isGroupLeader && p.child.pid !== undefined) killGroup(p.child.pid, "SIGKILL");
      p.kill("SIGKILL");
    }
    await Promise.all(all.map((p) => p.exited));
  }
}

/**
 * The environment for a child: the caller's variables over `base`, with no BATON_API_TOKEN
 * unless the caller gives one. Removed rather than emptied: servers refuse an empty token.
 */
export function withoutToken(
  base: NodeJS.ProcessEnv,
  env: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...base, ...env };
  if (env.BATON_API_TOKEN === undefined) delete merged.BATON_API_TOKEN;
  return merged;
}

/** Pids in process group `pgid` (a detached child leads its own group). */
export function groupMembers(pgid: number): number[] {
  const ps = spawnSync("ps", ["-o", "pid=", "-g", String(pgid)], { encoding: "utf8" });
  return ps.stdout
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** Pids whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const ps = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  return ps.stdout
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((child) => Number.isInteger(child) && child > 0);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone already
  }
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `condition` returns a value (not undefined/false) or the deadline passes. */
export async function eventually<T>(
  what: string,
  condition: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: string | undefined;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      lastError = e instanceof Error ? e.message : JSON.stringify(e);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}
