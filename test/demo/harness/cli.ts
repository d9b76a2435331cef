import { spawn } from "node:child_process";
import { BATON_CLI, REPO, withoutToken } from "./processes.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `baton ARGS` to the end, as a user's shell would (from the sources, see BATON_CLI), with
 * BATON_URL set to `url` when given. Stdout and stderr are pipes, so the output has no colours.
 */
export function runBaton(
  args: readonly string[],
  options: { url?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BATON_CLI, ...args], {
      cwd: REPO,
      env: withoutToken({ ...process.env, BATON_URL: options.url ?? "" }, options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `baton ${args.join(" ")} took longer than ${options.timeoutMs ?? 30_000} ms:\n${stdout}\n${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 30_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
