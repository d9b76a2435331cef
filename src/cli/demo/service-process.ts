import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";

export interface ServiceProcessOptions {
  name: string;
  /** A TypeScript or JavaScript file, run with tsx's loader. */
  script: string;
  /** Added to this process's environment. */
  env: Record<string, string>;
  /** The child's stdout and stderr go here, appended. */
  logFile: string;
  /** How long the child may take to say it is ready. */
  readyTimeoutMs?: number;
}

/** What a demo service sends over IPC once it serves (see examples/order-demo/service-kit.ts). */
interface ReadyMessage {
  ready: true;
  port?: number;
  /** How the service misbehaves on purpose, e.g. "15% of orders refused for good". */
  behaviour?: string;
}

const TSX_LOADER = import.meta.resolve("tsx");

/**
 * This process's export conditions, passed on so a service resolves `import "baton/worker"` as
 * the demo resolved "baton": to the sources (`--conditions=baton-source`, what `npm start` sets
 * in a clone) or to the compiled package.
 */
function exportConditions(execArgv: readonly string[]): string[] {
  return execArgv.flatMap((arg, i) => {
    if (arg.startsWith("--conditions=")) return [arg];
    const value = execArgv[i + 1];
    return (arg === "--conditions" || arg === "-C") && value ? [`--conditions=${value}`] : [];
  });
}

/**
 * One of the demo's services as a child process. It talks to us over an IPC channel: it
 * reports its port when ready, and it exits by itself when the channel closes — which happens
 * however this process ends, SIGKILL included — so no service outlives the demo.
 */
export class ServiceProcess {
  private constructor(
    readonly name: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
    /** Resolves when the process has exited, with how it ended. */
    readonly exited: Promise<string>,
    /** The port it listens on, for an HTTP service. */
    readonly port: number | undefined,
    readonly behaviour: string | undefined,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(options: ServiceProcessOptions): Promise<ServiceProcess> {
    const log = openSync(options.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [...exportConditions(process.execArgv), "--import", TSX_LOADER, options.script],
        {
          env: { ...process.env, ...options.env },
          stdio: ["ignore", log, log, "ipc"],
        },
      );
    } finally {
      closeSync(log); // the child has its own copy
    }
    // Should this process end first, whatever the reason, the child ends with it.
    const killChild = (): void => void child.kill("SIGKILL");
    process.once("exit", killChild);
    const exited = new Promise<string>((resolve) =>
      child.once("exit", (code, signal) => {
        process.off("exit", killChild);
        resolve(signal ?? `code ${code}`);
      }),
    );
    try {
      const ready = await whenReady(child, options);
      return new ServiceProcess(
        options.name,
        options.logFile,
        child,
        exited,
        ready.port,
        ready.behaviour,
      );
    } catch (e) {
      child.kill("SIGKILL");
      throw e;
    }
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.isRunning) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function whenReady(child: ChildProcess, options: ServiceProcessOptions): Promise<ReadyMessage> {
  return new Promise((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    const fail = (why: string): void => {
      cleanUp();
      reject(new Error(`service ${options.name} ${why}; see ${options.logFile}`));
    };
    const onMessage = (message: unknown): void => {
      if ((message as Partial<ReadyMessage> | null)?.ready !== true) return;
      cleanUp();
      resolve(message as ReadyMessage);
    };
    const onExit = (code: number | null, signal: string | null): void =>
      fail(`exited (${signal ?? `code ${code}`}) before it was ready`);
    const onError = (e: Error): void => fail(`could not start: ${e.message}`);
    const timer = setTimeout(() => fail(`was not ready within ${timeoutMs} ms`), timeoutMs);
    const cleanUp = (): void => {
      clearTimeout(timer);
      child.off("message", onMessage).off("exit", onExit).off("error", onError);
    };
    child.on("message", onMessage).once("exit", onExit).once("error", onError);
  });
}
