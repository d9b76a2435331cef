/**
 * Fault injection in the style of Jepsen's nemeses. Three Baton nodes (real processes,
 * chaos-node.ts) share a PostgreSQL cluster of this file's own, reached through a TCP proxy; a
 * client sends a history of operations (start, signal, cancel, retry) through the nodes in turn
 * while nemeses strike on a seeded schedule: the database restarted (-m immediate), the nodes'
 * connections terminated, the network black-holed, slowed, or cut right after a COMMIT, a node
 * frozen (SIGSTOP) mid-step, operators acting through any node. Then everything heals, the runs
 * get a deadline to end, and checkers read the history, the runs, the services' ledger and the
 * store. A second test starts two `baton server`s on one SQLite file.
 *
 *   BATON_CHAOS_PROFILE=quick|long (default quick; `npm run chaos` is long)
 *   BATON_CHAOS_SEED=<n>           replays the choices of an earlier run (printed at its start)
 *   BATON_CHAOS_LOAD_MS=<ms>       how long the load and the nemeses last (profile's default otherwise)
 *   BATON_CHAOS_LEASE_MS=<ms>      the nodes' lease (2000 by default)
 *
 * The table of faults and checker results is printed and written to test-artifacts/chaos-<profile>.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { postgresSkipReason } from "../support/postgres.js";
import { ProcessGroup, REPO, freePort, type TestProcess } from "../demo/harness/processes.js";
import { ChaosClient, acknowledged, type NodeRef } from "./harness/client.js";
import {
  CHECKERS,
  TERMINAL,
  type CheckResult,
  type EffectRow,
  type RunView,
  type StoredRun,
} from "./harness/checkers.js";
import { OwnPostgres } from "./harness/own-postgres.js";
import { PgProxy } from "./harness/proxy.js";
import { Random, chaosSeed } from "./harness/random.js";

const PROFILE = process.env.BATON_CHAOS_PROFILE === "long" ? "long" : "quick";

interface Profile {
  /** How long the client sends new work and the nemeses strike. */
  loadMs: number;
  startsPerSecond: number;
  /** How long one fault lasts. */
  faultMs: [number, number];
  /** Quiet time between two faults. */
  calmMs: [number, number];
  /** After the heal, every acknowledged start must be terminal within this. */
  deadlineMs: number;
  /** quick: every nemesis once, in order; long: drawn at random until the load ends. */
  schedule: "each-once" | "random";
}

const PROFILES: Record<"quick" | "long", Profile> = {
  quick: {
    loadMs: 22_000,
    startsPerSecond: 4,
    faultMs: [1_500, 2_500],
    calmMs: [500, 1_000],
    deadlineMs: 30_000,
    schedule: "each-once",
  },
  long: {
    loadMs: 150_000,
    startsPerSecond: 6,
    faultMs: [1_000, 6_000],
    calmMs: [1_000, 5_000],
    deadlineMs: 90_000,
    schedule: "random",
  },
};
/** BATON_CHAOS_LOAD_MS lengthens or shortens the load of either profile (to replay a long run). */
const P: Profile = {
  ...PROFILES[PROFILE],
  ...(process.env.BATON_CHAOS_LOAD_MS ? { loadMs: Number(process.env.BATON_CHAOS_LOAD_MS) } : {}),
};

/**
 * Checkers that fail in the quick profile because of an engine bug not fixed yet: each named
 * with the bug. They are still run and printed; only their verdict does not fail `npm test`.
 */
const KNOWN_FAILURES_QUICK: Record<string, string> = {};
const NODE_SCRIPT = join(REPO, "test", "chaos", "chaos-node.ts");
/** BATON_CHAOS_LEASE_MS shortens the nodes' leases: ownership changes hands more often. */
const LEASE_MS = Number(process.env.BATON_CHAOS_LEASE_MS ?? 2_000);
const NEMESES = [
  "pg-restart",
  "terminate-backends",
  "proxy-blackhole",
  "proxy-delay",
  "proxy-cut-after-commit",
  "sigstop-node",
  "operator",
] as const;
type Nemesis = (typeof NEMESES)[number];

interface ChaosNode extends NodeRef {
  process: TestProcess;
  frozen: boolean;
}

const processes = new ProcessGroup();
let own: OwnPostgres | undefined;
let proxy: PgProxy | undefined;
let admin: pg.Pool | undefined;

afterAll(async () => {
  await processes.killAll();
  await proxy?.close();
  await admin?.end().catch(() => undefined);
  await own?.destroy();
}, 60_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const skip = postgresSkipReason();

describe.skipIf(skip !== undefined)(
  `chaos (${PROFILE} profile)${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    it(
      "under restarts, terminated connections, partitions, ambiguous commits, frozen nodes and operators: starts end, runs are unique, signals kept, effects once, ledgers balance",
      async () => {
        const seed = chaosSeed();
        console.log(`chaos ${PROFILE}: seed ${seed} (replay with BATON_CHAOS_SEED=${seed})`);
        const load = new Random(seed);
        const nemesisRandom = new Random(seed ^ 0x5bd1e995);
        const began = Date.now();

        own = new OwnPostgres(await freePort());
        await own.start();
        const setup = new pg.Pool({ connectionString: own.url("postgres"), max: 1 });
        await setup.query("CREATE DATABASE baton");
        await setup.end();
        admin = new pg.Pool({
          connectionString: own.url("baton"),
          max: 4,
          application_name: "chaos-checker",
        });
        admin.on("error", () => undefined); // idle connections die with each restart
        await admin.query(`CREATE TABLE chaos_calls (idempotency_key text NOT NULL, run_id text NOT NULL,
      kind text NOT NULL, attempt int NOT NULL, node_id text NOT NULL, at bigint NOT NULL)`);
        await admin.query(`CREATE TABLE chaos_effects (idempotency_key text PRIMARY KEY, run_id text NOT NULL,
      kind text NOT NULL, node_id text NOT NULL, at bigint NOT NULL)`);
        proxy = new PgProxy(own.port);
        await proxy.listen();
        const storeUrl = own.url("baton", "?pool=5").replace(`:${own.port}/`, `:${proxy.port}/`);
        const effectsUrl = own.url("baton");

        const nodes: ChaosNode[] = await Promise.all(
          ["n1", "n2", "n3"].map(async (id) => {
            const p = processes.startTs(`node ${id}`, NODE_SCRIPT, [
              storeUrl,
              effectsUrl,
              id,
              String(LEASE_MS),
            ]);
            const [, url] = await p.waitForOutput(/READY (http:\/\/\S+)/, 60_000);
            return { id, url: url!, process: p, frozen: false };
          }),
        );
        const client = new ChaosClient(() => nodes, 3_000);
        const injected = new Map<string, number>(NEMESES.map((n) => [n, 0]));
        const notes: string[] = [];
        console.log(`chaos ${PROFILE}: setup ${Date.now() - began} ms`);

        // The client: new work at a steady pace while the load lasts. Every choice is drawn when the
        // operation is created, so the seed replays the same operations.
        const inFlight: Promise<unknown>[] = [];
        const orders: string[] = [];
        const collects: string[] = [];
        let sequence = 0;
        const loadEnds = Date.now() + P.loadMs;
        const clientLoop = (async () => {
          while (Date.now() < loadEnds) {
            const i = sequence++;
            if (load.chance(0.75)) {
              const runId = `o-${seed}-${i}`;
              const failShip = load.chance(0.2);
              // Some rollbacks stop at a refund refused for a while: the run ends failed
              // (COMPENSATION_FAILED) until an operator's retry resumes it.
              const refusedForMs = failShip && load.chance(0.4) ? load.int(0, 4_000) : undefined;
              const input = {
                orderId: runId,
                amount: load.int(1, 100),
                napMs: load.int(0, 1_500),
                stepMs: load.int(0, 300),
                failShip,
                ...(refusedForMs !== undefined
                  ? { refundRefusedUntil: Date.now() + refusedForMs }
                  : {}),
              };
              inFlight.push(
                client
                  .start("order", runId, input)
                  .then((e) => e && acknowledged(e) && orders.push(runId)),
              );
            } else {
              const runId = `c-${seed}-${i}`;
              const delays = [load.int(0, 2_000), load.int(0, 2_000), load.int(0, 2_000)];
              inFlight.push(
                client.start("collect", runId, { count: delays.length }).then(async (e) => {
                  if (!e || !acknowledged(e)) return;
                  collects.push(runId);
                  await Promise.all(
                    delays.map(async (d, k) => {
                      await sleep(d);
                      await client.signal(runId, "item", { id: `${runId}/s${k + 1}` });
                    }),
                  );
                }),
              );
            }
            await sleep(1_000 / P.startsPerSecond);
          }
        })();

        // The nemeses, on their schedule.
        const between = (range: [number, number]): number => nemesisRandom.int(range[0], range[1]);
        const timeline: string[] = [];
        const strike = async (nemesis: Nemesis): Promise<void> => {
          const at = Date.now();
          await strikeOnce(nemesis);
          timeline.push(`${new Date(at).toISOString()} ${nemesis} (${Date.now() - at} ms)`);
        };
        const strikeOnce = async (nemesis: Nemesis): Promise<void> => {
          injected.set(nemesis, injected.get(nemesis)! + 1);
          switch (nemesis) {
            case "pg-restart":
              await own!.restartImmediate();
              return;
            case "terminate-backends": {
              const n = await own!.terminateBackends(admin!, "baton");
              notes.push(`terminate-backends: ${n} backends`);
              return;
            }
            case "proxy-blackhole":
              proxy!.blackhole();
              await sleep(between(P.faultMs));
              proxy!.heal();
              return;
            case "proxy-delay":
              proxy!.delay(nemesisRandom.int(50, 400));
              await sleep(between(P.faultMs));
              proxy!.heal();
              return;
            case "proxy-cut-after-commit": {
              const before = proxy!.stats.commitsCut;
              proxy!.cutAfterCommit(nemesisRandom.int(2, 6));
              await sleep(between(P.faultMs));
              proxy!.heal();
              notes.push(`proxy-cut-after-commit: ${proxy!.stats.commitsCut - before} commits cut`);
              return;
            }
            case "sigstop-node": {
              // The node that began a step last: most likely executing one right now.
              const { rows } = await admin!.query<{ node_id: string }>(
                "SELECT node_id FROM chaos_calls ORDER BY at DESC LIMIT 1",
              );
              const victim =
                nodes.find((n) => n.id === rows[0]?.node_id && !n.frozen) ??
                nemesisRandom.pick(nodes);
              victim.frozen = true;
              victim.process.kill("SIGSTOP");
              await sleep(Math.max(between(P.faultMs), LEASE_MS * 2));
              victim.process.kill("SIGCONT");
              victim.frozen = false;
              return;
            }
            case "operator": {
              const actions: Promise<unknown>[] = [];
              for (let k = nemesisRandom.int(3, 8); k > 0; k--) {
                const action = nemesisRandom.pick(["cancel", "retry", "signal"] as const);
                if (action === "signal" && collects.length > 0) {
                  // A signal sent twice (as a client that retries does): must change nothing.
                  const runId = nemesisRandom.pick(collects);
                  actions.push(
                    client.signal(runId, "item", { id: `${runId}/s${nemesisRandom.int(1, 3)}` }),
                  );
                } else if (orders.length > 0) {
                  // Recent orders: most likely still running, so a cancel or a retry meets a live run.
                  const runId = nemesisRandom.pick(orders.slice(-12));
                  actions.push(action === "retry" ? client.retry(runId) : client.cancel(runId));
                }
              }
              inFlight.push(...actions);
              return;
            }
          }
        };
        const nemesisLoop = (async () => {
          await sleep(between(P.calmMs));
          const plan: Nemesis[] = P.schedule === "each-once" ? [...NEMESES] : [];
          for (;;) {
            const next = P.schedule === "each-once" ? plan.shift() : nemesisRandom.pick(NEMESES);
            if (next === undefined || Date.now() >= loadEnds) return;
            await strike(next);
            await sleep(between(P.calmMs));
          }
        })();

        await Promise.all([clientLoop, nemesisLoop]);
        // The heal: every fault lifted (the nemeses lift their own; this is the belt and braces).
        proxy.heal();
        for (const n of nodes) if (n.frozen) n.process.kill("SIGCONT");
        const healedAt = Date.now();
        const deadline = healedAt + P.deadlineMs;

        // Outstanding operations get until the deadline to find an answer; after that they stay unknown.
        const giveUp = setTimeout(() => client.giveUp(), P.deadlineMs);
        await Promise.all(inFlight);
        clearTimeout(giveUp);
        client.giveUp();

        // The final wait: every acknowledged start terminal, or the deadline.
        const ackedStarts = [
          ...new Set(
            client.history.filter((e) => e.op === "start" && acknowledged(e)).map((e) => e.runId),
          ),
        ];
        const views = new Map<string, RunView | undefined>();
        // The runs as the store holds them (what every node's API answers from), read in bulk so
        // the wait stays within its deadline however many runs there are.
        const readAll = async (runIds: string[]): Promise<void> => {
          try {
            const { rows } = await admin!.query<{
              run_id: string;
              workflow: string;
              status: string;
              output: string | null;
              error: string | null;
              waiting_on: string | null;
            }>(
              "SELECT run_id, workflow, status, output, error, waiting_on FROM runs WHERE run_id = ANY($1)",
              [runIds],
            );
            for (const r of rows) {
              views.set(r.run_id, {
                runId: r.run_id,
                workflow: r.workflow,
                status: r.status,
                ...(r.output !== null ? { output: JSON.parse(r.output) as unknown } : {}),
                ...(r.error !== null
                  ? { error: JSON.parse(r.error) as { code: string; message: string } }
                  : {}),
                ...(r.waiting_on !== null
                  ? { waitingOn: JSON.parse(r.waiting_on) as unknown }
                  : {}),
              });
            }
          } catch {
            // read again on the next turn
          }
        };
        // A run is settled once terminal, unless its rollback stopped at a failed compensation:
        // then the operator retries it (through any node, at most once a second) until it ends.
        const stoppedRollback = (id: string): boolean =>
          views.get(id)?.error?.code === "COMPENSATION_FAILED";
        const settled = (id: string): boolean =>
          TERMINAL.has(views.get(id)?.status ?? "") && !stoppedRollback(id);
        let lastRetry = 0;
        for (;;) {
          const open = ackedStarts.filter((id) => !settled(id));
          await readAll(open);
          const stopped = open.filter(stoppedRollback);
          if (stopped.length > 0 && Date.now() - lastRetry >= 1_000) {
            lastRetry = Date.now();
            await Promise.all(stopped.map((id) => client.retry(id)));
          }
          if (ackedStarts.every(settled) || Date.now() > deadline) break;
          await sleep(250); // the poll interval of a condition loop bounded by `deadline`
        }
        const settledIn = Date.now() - healedAt;

        // Exits on their own, seen before we stop anything.
        const exits = new Map(
          nodes.map((n) => [
            n.id,
            n.process.isRunning
              ? ""
              : `code ${n.process.child.exitCode} signal ${n.process.child.signalCode}\n${n.process.tail(2_000)}`,
          ]),
        );
        const effects = (
          await admin.query<EffectRow>("SELECT idempotency_key, run_id, kind FROM chaos_effects")
        ).rows;
        const stored = (
          await admin.query<StoredRun>(
            `SELECT r.run_id, r.workflow, (SELECT count(*)::int FROM journal j WHERE j.run_id = r.run_id AND j.type = 'run.started') AS starts
         FROM runs r`,
          )
        ).rows;
        const signalsReceivedTwice = (
          await admin.query<{ run_id: string; signal_id: string; seqs: number[] }>(
            `SELECT run_id, data::json->>'signalId' AS signal_id, array_agg(seq::int ORDER BY seq) AS seqs
             FROM journal WHERE type = 'signal.received' GROUP BY 1, 2 HAVING count(*) > 1`,
          )
        ).rows;
        const record = {
          history: client.history,
          runs: views,
          effects,
          stored,
          signalsReceivedTwice,
          exits,
        };
        const results: CheckResult[] = CHECKERS.map((check) => check(record));

        // Evidence: the journals of the runs a checker names (a few per checker), through the
        // API, or from the store when no node answers.
        const journals: Record<string, unknown> = {};
        let apiAnswers = true;
        for (const r of results) {
          for (const runId of r.runIds.slice(0, 5)) {
            if (runId in journals) continue;
            const node = nodes[Object.keys(journals).length % nodes.length]!;
            if (apiAnswers) {
              try {
                const response = await fetch(
                  `${node.url}/v1/runs/${encodeURIComponent(runId)}/history`,
                  { signal: AbortSignal.timeout(3_000) },
                );
                journals[runId] = await response.json();
                continue;
              } catch {
                apiAnswers = false;
              }
            }
            journals[runId] = (
              await admin.query(
                "SELECT position, seq, type, name, data, at FROM journal WHERE run_id = $1 ORDER BY position",
                [runId],
              )
            ).rows;
          }
        }
        // And what the client sent to them, with the answers.
        const named = new Set(results.flatMap((r) => r.runIds));
        const requests = client.history.filter((e) => named.has(e.runId));
        const nodeLogs = Object.fromEntries(nodes.map((n) => [n.id, n.process.tail(20_000)]));

        const byStatus: Record<string, number> = {};
        for (const v of views.values())
          byStatus[v?.status ?? "unreadable"] = (byStatus[v?.status ?? "unreadable"] ?? 0) + 1;
        const ops: Record<string, string> = {};
        for (const op of ["start", "signal", "cancel", "retry"] as const) {
          const all = client.history.filter((e) => e.op === op);
          ops[op] =
            `${all.length} sent, ${all.filter(acknowledged).length} acked, ${all.filter((e) => e.status === undefined || e.status >= 500).length} unknown`;
        }
        const report = {
          profile: PROFILE,
          seed,
          durationMs: Date.now() - began,
          settledAfterHealMs: settledIn,
          faults: Object.fromEntries(injected),
          proxy: proxy.stats,
          notes,
          timeline,
          journalsFrom: apiAnswers ? "GET /v1/runs/{id}/history" : "the store (no node answered)",
          runs: { acknowledged: ackedStarts.length, byStatus },
          operations: ops,
          checkers: results.map((r) => ({ ...r, knownFailure: KNOWN_FAILURES_QUICK[r.name] })),
          journals,
          requests,
          nodeLogs,
        };
        mkdirSync(join(REPO, "test-artifacts"), { recursive: true });
        writeFileSync(
          join(REPO, "test-artifacts", `chaos-${PROFILE}.json`),
          JSON.stringify(report, null, 2),
        );
        console.log(
          [
            `chaos ${PROFILE}: seed ${seed}, ${report.durationMs} ms, settled ${settledIn} ms after the heal`,
            "fault                      injected",
            ...[...injected].map(([f, n]) => `${f.padEnd(27)}${n}`),
            `runs: ${ackedStarts.length} acknowledged, ${JSON.stringify(byStatus)}`,
            ...Object.entries(ops).map(([op, s]) => `${op.padEnd(7)}${s}`),
            "checker                         checked  result",
            ...results.map(
              (r) =>
                `${r.name.padEnd(32)}${String(r.checked).padEnd(9)}${r.ok ? "ok" : `FAIL (${r.violations.length})${KNOWN_FAILURES_QUICK[r.name] && PROFILE === "quick" ? " known failure" : ""}\n    ${r.violations.slice(0, 5).join("\n    ")}`}`,
            ),
          ].join("\n"),
        );

        for (const r of results) {
          if (PROFILE === "quick" && KNOWN_FAILURES_QUICK[r.name]) continue;
          expect(
            r.violations,
            `${r.name} (seed ${seed}; journals in test-artifacts/chaos-${PROFILE}.json)`,
          ).toEqual([]);
        }
        expect(injected.get("pg-restart")).toBeGreaterThan(0);
      },
      P.loadMs + 2 * P.deadlineMs + 120_000,
    );
  },
);
