/**
 * The PostgreSQL server the `postgres` target runs against, and a fresh database per case.
 *
 * Where the server comes from, first that works:
 * - `BATON_BENCH_POSTGRES_URL` (a superuser's URL);
 * - `BATON_TEST_POSTGRES_URL` (what the tests use);
 * - `bash .ci/postgres.sh` (installs and starts a local server if needed; its last stdout line
 *   is the URL).
 * None works: the postgres target is reported `n/a (no PostgreSQL: <reason>)` and the rest of
 * the bench runs as usual.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { REPO_ROOT } from "./child.js";

const SETUP_TIMEOUT_MS = 10 * 60_000;
export const BENCH_DB_PREFIX = "baton_bench_";

export type PostgresServer = { url: string } | { reason: string };

/** A superuser's URL on a server that answers, or why there is none. Never throws. */
export async function findPostgresServer(): Promise<PostgresServer> {
  const tried: string[] = [];
  for (const name of ["BATON_BENCH_POSTGRES_URL", "BATON_TEST_POSTGRES_URL"] as const) {
    const url = process.env[name];
    if (!url) continue;
    const problem = await connectProblem(url);
    if (problem === undefined) return { url };
    tried.push(`${name}: ${problem}`);
  }
  try {
    const { stdout } = await promisify(execFile)("bash", [`${REPO_ROOT}.ci/postgres.sh`], {
      cwd: REPO_ROOT,
      timeout: SETUP_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    const url = stdout.trim().split("\n").pop() ?? "";
    if (!/^postgres(ql)?:\/\//.test(url)) {
      tried.push(`.ci/postgres.sh printed no URL (got ${JSON.stringify(url.slice(0, 200))})`);
    } else {
      const problem = await connectProblem(url);
      if (problem === undefined) return { url };
      tried.push(`.ci/postgres.sh: ${problem}`);
    }
  } catch (e) {
    const stderr = ((e as { stderr?: string }).stderr ?? "").trim().split("\n").pop() ?? "";
    tried.push(`.ci/postgres.sh failed: ${stderr || (e as Error).message}`);
  }
  return { reason: tried.join("; ") };
}

async function connectProblem(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (e) {
    return `cannot connect to ${redact(url)}: ${(e as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

let databaseCount = 0;

/**
 * An empty database of its own on the server (`baton_bench_<pid>_<n>`); `Baton.open` migrates
 * it. Databases of bench processes that are gone (killed before they dropped theirs) are
 * dropped first.
 */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await dropAbandoned(admin);
    const name = `${BENCH_DB_PREFIX}${process.pid}_${++databaseCount}`;
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return {
      name,
      url: databaseUrl(serverUrl, name),
      drop: async () => {
        const client = new pg.Client({ connectionString: serverUrl });
        await client.connect();
        try {
          await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
        } finally {
          await client.end();
        }
      },
    };
  } finally {
    await admin.end();
  }
}

async function dropAbandoned(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'baton\\_bench\\_%'",
  );
  for (const { datname } of rows) {
    const pid = Number(datname.slice(BENCH_DB_PREFIX.length).split("_")[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The URL of another database on the same server. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@/]*@/, "$1***@");
}

export interface ServerSettings {
  version: string;
  fsync: string;
  synchronousCommit: string;
  sharedBuffers: string;
  maxConnections: string;
}

/** The settings that decide what a commit costs, for the report and the JSON. */
export async function serverSettings(serverUrl: string): Promise<ServerSettings> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const show = async (name: string) => (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!;
    return {
      version: await show("server_version"),
      fsync: await show("fsync"),
      synchronousCommit: await show("synchronous_commit"),
      sharedBuffers: await show("shared_buffers"),
      maxConnections: await show("max_connections"),
    };
  } finally {
    await client.end();
  }
}
