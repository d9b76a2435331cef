/**
 * PostgreSQL for tests: a server, and a fresh database per test cloned from a migrated template.
 *
 * Where the server comes from:
 * - `BATON_TEST_POSTGRES_URL` (a superuser's URL; `.ci/run` sets it from `.ci/postgres.sh`);
 * - unset: `.ci/postgres.sh` is run once (it installs PostgreSQL if needed, starts it on
 *   127.0.0.1:54329 and prints the URL), so `npm test` works on a fresh machine too;
 * - neither works: the PostgreSQL tests FAIL, saying what to do. A missing server must not
 *   pass as a green run. `BATON_SKIP_POSTGRES=1` skips them on purpose, and says so.
 *
 * Databases: `baton_template_<hash of migrations/postgres>` is created and migrated once per
 * server (under an advisory lock, so parallel workers build it once), then every test gets
 * `CREATE DATABASE baton_test_<pid>_<n> TEMPLATE …` — a file copy, no migration per test — and
 * drops it afterwards. Databases left by a killed test process are dropped by the next run.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { beforeAll, describe } from "vitest";
import { PostgresStore } from "../../src/store/index.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SETUP_SCRIPT = `${REPO_ROOT}.ci/postgres.sh`;
/** Installing the server from Debian's packages takes a minute or two on a fresh machine. */
export const POSTGRES_SETUP_TIMEOUT_MS = 10 * 60_000;
const TEST_DB_PREFIX = "baton_test_";
const TEMPLATE_LOCK = 0x62746e7431; // "btnt1"

/** Why the PostgreSQL tests are skipped, when the environment asks for it; otherwise undefined. */
export function postgresSkipReason(): string | undefined {
  return process.env.BATON_SKIP_POSTGRES === "1" ? "BATON_SKIP_POSTGRES=1" : undefined;
}

/**
 * A describe block for tests that need PostgreSQL: skipped, with the reason in its name, under
 * BATON_SKIP_POSTGRES=1; otherwise it first makes sure a server is there (or fails).
 */
export function describePostgres(name: string, body: () => void): void {
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    console.warn(`PostgreSQL tests skipped: ${skip}`);
    describe.skip(`${name} (skipped: ${skip})`, body);
    return;
  }
  describe(name, () => {
    beforeAll(async () => {
      await postgresServer();
    }, POSTGRES_SETUP_TIMEOUT_MS);
    body();
  });
}

interface Server {
  /** A superuser's URL on the server's maintenance database (`baton`). */
  url: string;
  admin: pg.Pool;
  template: string;
}

// One per test file (vitest evaluates modules per file): the admin connection and the template.
let server: Promise<Server> | undefined;

/** The server, started or installed if needed; rejects with what to do if it cannot be had. */
function postgresServer(): Promise<Server> {
  server ??= connectServer();
  return server;
}

/** Whether a PostgreSQL server for tests is there (or could be started); never throws. */
export async function postgresAvailable(): Promise<boolean> {
  return postgresServer().then(
    () => true,
    () => false,
  );
}

/** A superuser's URL on the test server's maintenance database. */
export async function postgresUrl(): Promise<string> {
  return (await postgresServer()).url;
}

export interface TestDatabase {
  name: string;
  /** The database's URL, with `?pool=N` if asked. */
  url: string;
  /** Drops the database, closing any connection still open to it. Safe to call twice. */
  drop: () => Promise<void>;
}

let databaseCount = 0;

/**
 * A new database of its own: migrated (a clone of the template) unless `migrated: false`, when
 * it is empty (a clone of template0).
 */
export async function freshDatabase(
  options: { migrated?: boolean; pool?: number } = {},
): Promise<TestDatabase> {
  const { url, admin, template } = await postgresServer();
  const name = `${TEST_DB_PREFIX}${process.pid}_${++databaseCount}`;
  const source = options.migrated === false ? "template0" : template;
  await admin.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(source)}`);
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: databaseUrl(url, name, options.pool),
    drop: () => {
      dropped ??= admin
        .query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`)
        .then(() => undefined);
      return dropped;
    },
  };
}

/** The URL of another database on the same server. */
export function databaseUrl(serverUrl: string, database: string, pool?: number): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  if (pool !== undefined) url.searchParams.set("pool", String(pool));
  return url.toString();
}

async function connectServer(): Promise<Server> {
  const url = await serverUrl();
  const admin = new pg.Pool({ connectionString: url, max: 2, allowExitOnIdle: true });
  admin.on("error", () => undefined); // an idle admin connection that drops is replaced on demand
  try {
    await admin.query("SELECT 1");
  } catch (e) {
    await admin.end();
    throw unavailable(`cannot connect to ${redact(url)}: ${(e as Error).message}`);
  }
  const template = await ensureTemplate(url, admin);
  return { url, admin, template };
}

async function serverUrl(): Promise<string> {
  const fromEnv = process.env.BATON_TEST_POSTGRES_URL;
  if (fromEnv) return fromEnv;
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)("bash", [SETUP_SCRIPT], {
      timeout: POSTGRES_SETUP_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? "";
    throw unavailable(
      `BATON_TEST_POSTGRES_URL is unset and .ci/postgres.sh failed: ${(e as Error).message}\n${stderr.slice(-2000)}`,
    );
  }
  const url = stdout.trim().split("\n").pop() ?? "";
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw unavailable(`.ci/postgres.sh printed no URL (got ${JSON.stringify(url)})`);
  }
  // Later test files in this worker process find it without running the script again.
  process.env.BATON_TEST_POSTGRES_URL = url;
  return url;
}

/** The migrated template, built once per version of migrations/postgres. */
async function ensureTemplate(url: string, admin: pg.Pool): Promise<string> {
  const template = `baton_template_${migrationsHash()}`;
  const client = await admin.connect();
  try {
    // Session lock: parallel workers wait here while one of them builds the template.
    await client.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK]);
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [
      template,
    ]);
    if (!rowCount) {
      const building = `${template}_building`;
      await client.query(`DROP DATABASE IF EXISTS ${ident(building)} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${ident(building)} TEMPLATE template0`);
      const store = new PostgresStore({
        connectionString: databaseUrl(url, building),
        poolSize: 1,
      });
      try {
        await store.migrate();
      } finally {
        await store.close();
      }
      // Renamed only once complete, so a template that exists is always a migrated one; no one
      // may connect to it afterwards (CREATE DATABASE … TEMPLATE refuses a template in use).
      await client.query(`ALTER DATABASE ${ident(building)} RENAME TO ${ident(template)}`);
      await client.query(`ALTER DATABASE ${ident(template)} WITH ALLOW_CONNECTIONS false`);
    }
    await dropAbandoned(client);
    return template;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK]).catch(() => undefined);
    client.release();
  }
}

/** Test databases whose process is gone (killed before its cleanup ran). */
async function dropAbandoned(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'baton\\_test\\_%'",
  );
  for (const { datname } of rows) {
    const pid = Number(datname.slice(TEST_DB_PREFIX.length).split("_")[0]);
    if (Number.isInteger(pid) && !isAlive(pid)) {
      await client.query(`DROP DATABASE IF EXISTS ${ident(datname)} WITH (FORCE)`);
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

function migrationsHash(): string {
  const dir = `${REPO_ROOT}migrations/postgres/`;
  const hash = createHash("sha256");
  for (const file of readdirSync(dir).sort()) hash.update(file).update(readFileSync(dir + file));
  return hash.digest("hex").slice(0, 12);
}

function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@/]*@/, "$1***@");
}

function unavailable(reason: string): Error {
  return new Error(
    `PostgreSQL is needed for these tests and cannot be had: ${reason}\n` +
      "Run `bash .ci/postgres.sh` (installs and starts a local server, prints its URL) and set " +
      "BATON_TEST_POSTGRES_URL to that URL — or set BATON_SKIP_POSTGRES=1 to skip the PostgreSQL " +
      "tests on purpose.",
  );
}
