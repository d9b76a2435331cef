/**
 * Memory and CPU of the PostgreSQL server processes that serve one case, read from /proc.
 *
 * The memory of an engine that needs a database server counts that server's processes too.
 * The server may be shared (other databases, other users' tests), so only these count: the
 * postmaster, the server-wide processes (checkpointer, WAL writer, background writer,
 * autovacuum launcher, …: no database in pg_stat_activity) and the backends connected to the
 * case's database. The sampler runs in the bench's parent process, so its reads cost the case
 * nothing.
 *
 * Summed RSS counts every shared page (shared_buffers) once per process that touched it, so it
 * overstates; summed PSS (each shared page split between the processes mapping it) does not,
 * and is reported beside it where /proc/<pid>/smaps_rollup is readable.
 */
import { readFileSync } from "node:fs";
import pg from "pg";

export interface ServerMemory {
  /** Highest sum of VmRSS over the server's processes serving the case, bytes. */
  peakRssBytes: number;
  /** Highest sum of Pss over the same processes, bytes; absent where smaps_rollup is unreadable. */
  peakPssBytes?: number;
  /** Most such processes seen at once. */
  processes: number;
  /** utime + stime of those processes between `measureStart` and `measureEnd`, µs. */
  measuredCpuUs?: number;
  samples: number;
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux Node supports). */
const TICKS_PER_SECOND = 100;

export class PostgresMemorySampler {
  private readonly admin: pg.Client;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private peakRss = 0;
  private peakPss = 0;
  private hasPss = true;
  private maxProcesses = 0;
  private samples = 0;
  private cpuAtStart: Map<number, number> | undefined;
  private measuredCpuUs: number | undefined;

  private constructor(
    admin: pg.Client,
    private readonly database: string,
    private readonly postmasterPid: number,
    private readonly intervalMs: number,
  ) {
    this.admin = admin;
  }

  /** Starts sampling, or says why the server's processes cannot be seen from here. */
  static async start(serverUrl: string, database: string, intervalMs = 200): Promise<PostgresMemorySampler | { reason: string }> {
    const admin = new pg.Client({ connectionString: serverUrl });
    try {
      await admin.connect();
      const { rows } = await admin.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const backend = rows[0]!.pid;
      const postmaster = readStat(backend)?.ppid;
      if (postmaster === undefined || readComm(postmaster) !== "postgres") {
        await admin.end();
        return { reason: "the server's processes are not visible in /proc (not on this machine?)" };
      }
      const sampler = new PostgresMemorySampler(admin, database, postmaster, intervalMs);
      sampler.schedule(0);
      return sampler;
    } catch (e) {
      await admin.end().catch(() => undefined);
      return { reason: `cannot sample the server's memory: ${(e as Error).message}` };
    }
  }

  /** The measured runs begin: CPU of the server's processes counts from here. */
  async measureStart(): Promise<void> {
    this.cpuAtStart = cpuTicks(await this.pids());
  }

  /** The measured runs are over. */
  async measureEnd(): Promise<void> {
    if (!this.cpuAtStart) return;
    const atEnd = cpuTicks(await this.pids());
    let ticks = 0;
    // A process that started during the measurement counts from zero.
    for (const [pid, t] of atEnd) ticks += t - (this.cpuAtStart.get(pid) ?? 0);
    this.measuredCpuUs = (ticks / TICKS_PER_SECOND) * 1e6;
  }

  async stop(): Promise<ServerMemory> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.admin.end().catch(() => undefined);
    return {
      peakRssBytes: this.peakRss,
      ...(this.hasPss ? { peakPssBytes: this.peakPss } : {}),
      processes: this.maxProcesses,
      ...(this.measuredCpuUs !== undefined ? { measuredCpuUs: this.measuredCpuUs } : {}),
      samples: this.samples,
    };
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.sample()
        .catch(() => undefined)
        .finally(() => {
          if (!this.stopped) this.schedule(this.intervalMs);
        });
    }, delayMs);
  }

  private async sample(): Promise<void> {
    const pids = await this.pids();
    let rss = 0;
    let pss = 0;
    let seen = 0;
    for (const pid of pids) {
      const memory = readMemory(pid);
      if (!memory) continue; // exited between the query and the read
      seen++;
      rss += memory.rssBytes;
      if (memory.pssBytes === undefined) this.hasPss = false;
      else pss += memory.pssBytes;
    }
    this.samples++;
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakPss = Math.max(this.peakPss, pss);
    this.maxProcesses = Math.max(this.maxProcesses, seen);
  }

  /** The postmaster, the server-wide processes and the case database's backends; not our own. */
  private async pids(): Promise<number[]> {
    const { rows } = await this.admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (datname IS NULL OR datname = $1)",
      [this.database],
    );
    return [this.postmasterPid, ...rows.map((r) => r.pid)];
  }
}

function readMemory(pid: number): { rssBytes: number; pssBytes?: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const rssBytes = kiBField(status, "VmRSS") ?? 0;
  let pssBytes: number | undefined;
  try {
    pssBytes = kiBField(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss");
  } catch {
    pssBytes = undefined;
  }
  return pssBytes === undefined ? { rssBytes } : { rssBytes, pssBytes };
}

function kiBField(text: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}

function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After the name: state(3) ppid(4) … utime(14) stime(15), so index = field number − 3.
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function cpuTicks(pids: readonly number[]): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) ticks.set(pid, stat.ticks);
  }
  return ticks;
}
