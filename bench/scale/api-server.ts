import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exited, forkTs, nextMessage } from "../child.js";
import type { ApiServerMessage } from "./api-protocol.js";

/** The orchestrator process of the HTTP figures, on a fresh SQLite file of its own. */
export interface ApiServer {
  child: ChildProcess;
  url: string;
  dbPath: string;
  /** Engine errors the server logged (the figure fails on them). */
  problems: string[];
  /** Asks the server to close, waits for it, and removes its files; problems if it did not exit cleanly. */
  close(): Promise<void>;
}

export async function startApiServer(prefix: string): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dbPath = join(dir, "api.db");
  const problems: string[] = [];
  const child = forkTs("./scale/api-server-child.ts", [dbPath]);
  child.on("message", (m: ApiServerMessage) => {
    if (m.type === "problem" && problems.length < 5) problems.push(`engine logged an error: ${m.line}`);
  });
  let url: string;
  try {
    url = await nextMessage(child, (m) => ((m as ApiServerMessage).type === "listening" ? (m as { url: string }).url : undefined), 60_000, "its URL");
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    child,
    url,
    dbPath,
    problems,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.send({ type: "close" } satisfies ApiServerMessage);
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const exit = await exited(child);
      clearTimeout(timer);
      if (exit.code !== 0) problems.push(`the server process exited ${exit.signal ?? `with code ${exit.code}`}`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
