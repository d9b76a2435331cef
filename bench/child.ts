import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root: children run from here so `--import tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface TsChildOptions {
  /** Extra node flags, e.g. `--expose-gc` or `--cpu-prof`. */
  nodeFlags?: string[];
  /** What the child's stdout and stderr do; both are inherited by default. */
  stdio?: "inherit" | "pipe";
}

/**
 * Starts `node [flags] --import tsx <script> <args>` with an IPC channel: the same as running
 * the script by hand, plus `process.send` for results.
 */
export function forkTs(script: string, args: string[], options: TsChildOptions = {}): ChildProcess {
  const path = fileURLToPath(new URL(script, import.meta.url));
  return fork(path, args, {
    cwd: REPO_ROOT,
    execArgv: [...(options.nodeFlags ?? []), "--import", "tsx"],
    stdio: options.stdio === "pipe" ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "inherit", "inherit", "ipc"],
  });
}

/** Resolves when the child exits: its exit code, or the signal that ended it. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/**
 * The first message from the child that `accept` takes, or a rejection if the child exits
 * first or `timeoutMs` passes.
 */
export function nextMessage<T>(child: ChildProcess, accept: (message: unknown) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no ${what} from the child within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: unknown) => {
      const value = accept(message);
      if (value !== undefined) done(undefined, value);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      done(new Error(`the child exited (${signal ?? `code ${code}`}) before sending ${what}`));
    function done(error: Error | undefined, value?: T): void {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve(value as T);
    }
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}
