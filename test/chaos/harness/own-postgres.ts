/**
 * A throwaway PostgreSQL cluster of the suite's own, so a nemesis may restart it (the shared test
 * server must never be). Binaries as `.ci/postgres.sh` finds them; as root the cluster belongs to
 * the `postgres` OS user (initdb refuses root). Trust authentication on loopback only; fsync off:
 * the nemeses crash the server process, never the machine, so the page cache survives them.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { readdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";

function bindir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
        .sort((a, b) => Number(a) - Number(b))
    : [];
  const last = versions.at(-1);
  if (last === undefined)
    throw new Error(
      "no /usr/lib/postgresql/*/bin/pg_ctl: run `bash .ci/postgres.sh` once to install PostgreSQL",
    );
  return join(root, last, "bin");
}

export class OwnPostgres {
  readonly dir: string;
  readonly data: string;
  private readonly bin = bindir();
  private readonly owner: { uid: number; gid: number } | undefined;
  restarts = 0;

  constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), "baton-chaos-pg-"));
    this.data = join(this.dir, "data");
    if (process.getuid?.() === 0) {
      const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
      const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
      if (!Number.isInteger(uid) || uid <= 0)
        throw new Error("no `postgres` OS user to own the cluster");
      this.owner = { uid, gid };
      chownSync(this.dir, uid, gid);
    }
    chmodSync(this.dir, 0o700);
  }

  /** `postgres://postgres@127.0.0.1:port/<database>` */
  url(database: string, params = ""): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}${params}`;
  }

  /** Runs a PostgreSQL tool as the cluster's owner; resolves with its exit code, output in a file. */
  private tool(name: string, args: string[]): Promise<number> {
    const out = openSync(join(this.dir, `${name}.out`), "a");
    const child = spawn(join(this.bin, name), args, {
      stdio: ["ignore", out, out],
      ...(this.owner ? { uid: this.owner.uid, gid: this.owner.gid } : {}),
      cwd: this.dir,
    });
    closeSync(out);
    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => resolve(code ?? -1));
    });
  }

  private async mustTool(name: string, args: string[]): Promise<void> {
    const code = await this.tool(name, args);
    if (code !== 0) throw new Error(`${name} ${args.join(" ")} exited ${code}:\n${this.log()}`);
  }

  log(): string {
    const read = (f: string): string => {
      try {
        return readFileSync(join(this.dir, f), "utf8").slice(-3_000);
      } catch {
        return "";
      }
    };
    return `${read("initdb.out")}${read("pg_ctl.out")}${read("server.log")}`;
  }

  async start(): Promise<void> {
    await this.mustTool("initdb", [
      "-D",
      this.data,
      "--username=postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=C.UTF-8",
      "--no-sync",
    ]);
    await this.mustTool("pg_ctl", [
      "start",
      "-D",
      this.data,
      "-w",
      "-t",
      "60",
      "-l",
      join(this.dir, "server.log"),
      "-o",
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=150`,
    ]);
  }

  /** The crash nemesis: every backend killed at once, then crash recovery. Resolves once ready. */
  async restartImmediate(): Promise<void> {
    this.restarts++;
    await this.mustTool("pg_ctl", [
      "restart",
      "-D",
      this.data,
      "-m",
      "immediate",
      "-w",
      "-t",
      "60",
    ]);
  }

  /** Terminates the backends serving `applicationPrefix`* clients; resolves with how many. */
  async terminateBackends(admin: pg.Pool, applicationPrefix: string): Promise<number> {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
      [`${applicationPrefix}%`],
    );
    return rows[0]?.n ?? 0;
  }

  /** Stops the server (immediately) and removes its files; never throws. */
  async destroy(): Promise<void> {
    try {
      await this.tool("pg_ctl", ["stop", "-D", this.data, "-m", "immediate", "-w", "-t", "30"]);
    } catch {
      // fall through to the kill below
    }
    try {
      const pid = Number(readFileSync(join(this.data, "postmaster.pid"), "utf8").split("\n")[0]);
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, "SIGKILL");
    } catch {
      // no pid file: the server is gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
