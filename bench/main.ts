/**
 * `npm run bench` — the workloads of bench/README.md: W1 (order saga, closed loop, against the
 * in-process lower bound) and W2 (scale). Prints a table, writes bench-results/<timestamp>.json,
 * exits non-zero if any run ended otherwise than the workload predicts.
 *
 *   npm run bench                 the full plan (several minutes)
 *   npm run bench -- --quick      tiny sizes, for CI (also BENCH_QUICK=1)
 *   npm run bench -- --skip-scale | --skip-w1
 *   npm run bench -- --skip-w1 --figure http-starts     only the W2 figures named (repeatable)
 *   npm run bench -- --target postgres --skip-scale     only the W1 targets named (repeatable; the lower bound always runs)
 *   npm run bench -- --no-postgres                      the postgres target reported n/a
 *   npm run bench -- --json PATH                        the JSON there instead of bench-results/
 */
import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { caseArgs, type CaseMessage, type CaseResult, type CaseSpec } from "./case.js";
import { REPO_ROOT, exited, forkTs, nextMessage } from "./child.js";
import { FULL_PLAN, QUICK_PLAN, type Plan } from "./plan.js";
import { PostgresMemorySampler } from "./postgres-memory.js";
import { findPostgresServer, redact, serverSettings, type ServerSettings } from "./postgres-server.js";
import { Progress } from "./progress.js";
import { TARGET_NAMES, isTargetName } from "./target.js";
import { defaultJsonPath, renderScale, renderW1, writeJson, type W1Notes } from "./report.js";
import { SCALE_FIGURES, type ScaleResult } from "./scale/index.js";
import { summarize } from "./summary.js";

const CASE_TIMEOUT_MS = 30 * 60_000;

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    "skip-scale": { type: "boolean", default: false },
    "skip-w1": { type: "boolean", default: false },
    figure: { type: "string", multiple: true },
    "no-postgres": { type: "boolean", default: false },
    target: { type: "string", multiple: true },
    json: { type: "string" },
  },
});
// `bench:quick` too, for a package.json script of that name running this file.
const isQuick = flags.quick || process.env.BENCH_QUICK === "1" || process.env.npm_lifecycle_event === "bench:quick";
const fullPlan: Plan = isQuick ? QUICK_PLAN : FULL_PLAN;
for (const name of flags.target ?? []) {
  if (!isTargetName(name)) throw new Error(`--target ${name}: use one of ${TARGET_NAMES.join(", ")}`);
}
// The lower bound stays: every ratio is taken against it.
const plan: Plan = flags.target
  ? { ...fullPlan, targets: fullPlan.targets.filter((t) => t === "lower-bound" || flags.target!.includes(t)) }
  : fullPlan;

const notes: W1Notes = { unavailable: {}, titles: {} };
let postgres: { url: string; settings: ServerSettings } | undefined;
if (flags["no-postgres"]) {
  notes.unavailable.postgres = "no PostgreSQL: turned off by --no-postgres";
} else if (!flags["skip-w1"] && plan.targets.includes("postgres")) {
  process.stderr.write("Looking for a PostgreSQL server …\n");
  const server = await findPostgresServer();
  if ("reason" in server) {
    notes.unavailable.postgres = `no PostgreSQL: ${server.reason}`;
  } else {
    try {
      const settings = await serverSettings(server.url);
      postgres = { url: server.url, settings };
      // The case processes inherit it: they make their databases on this server.
      process.env.BATON_BENCH_POSTGRES_URL = server.url;
      notes.titles.postgres = `Baton postgres ${settings.version.split(" ")[0]} fsync=${settings.fsync}`;
    } catch (e) {
      notes.unavailable.postgres = `no PostgreSQL: cannot read the server's settings: ${(e as Error).message}`;
    }
  }
}

const specs: CaseSpec[] = [];
if (!flags["skip-w1"]) {
  // Repetitions outermost within a load point and targets interleaved, so drift of a noisy
  // machine lands on the engine and on the lower bound alike.
  for (const variant of plan.variants) {
    for (const load of plan.loads) {
      for (let rep = 0; rep < plan.repetitions; rep++) {
        for (const target of plan.targets) {
          if (notes.unavailable[target] === undefined) specs.push({ target, variant, ...load, warmup: plan.warmup });
        }
      }
    }
  }
}
const figureIds = flags.figure;
for (const id of figureIds ?? []) {
  if (!SCALE_FIGURES.some((f) => f.id === id)) throw new Error(`--figure ${id}: use one of ${SCALE_FIGURES.map((f) => f.id).join(", ")}`);
}
const figures = flags["skip-scale"] ? [] : SCALE_FIGURES.filter((f) => figureIds === undefined || figureIds.includes(f.id));

const startedAt = new Date();
// Shared machines are noisy: keep the load around the run next to its figures.
const loadAtStart = loadavg();
const progress = new Progress(specs.length + figures.length);
const problems: string[] = [];
const cases: CaseResult[] = [];

for (const spec of specs) {
  const label = `${spec.variant} ${spec.target} N=${spec.runs} C=${spec.concurrency}`;
  progress.begin(label);
  try {
    const result = await runCaseProcess(spec, progress);
    cases.push(result);
    for (const p of result.problems) problems.push(`${label}: ${p}`);
  } catch (e) {
    problems.push(`${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (problems.length) progress.note(`✗ ${problems[problems.length - 1]}`);
}

const scale: ScaleResult[] = [];
for (const figure of figures) {
  progress.begin(figure.title);
  const result = await figure.run(plan.scale, (phase, done, total) => progress.update(phase, done, total));
  scale.push(result);
  if (result.status === "measured") {
    for (const p of result.problems) {
      problems.push(`${figure.id}: ${p}`);
      progress.note(`✗ ${figure.id}: ${p}`);
    }
  }
}
progress.end();

const summaries = summarize(cases);
if (specs.length) process.stdout.write(`\n${renderW1(summaries, plan, notes)}\n`);
if (figures.length) process.stdout.write(`\n${renderScale(scale, plan)}\n`);

const path = writeJson(flags.json ?? defaultJsonPath(REPO_ROOT, startedAt), {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    totalMemBytes: totalmem(),
    loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
  },
  git: gitState(),
  plan,
  postgres: postgres ? { url: redact(postgres.url), settings: postgres.settings } : { unavailable: notes.unavailable.postgres },
  w1: { summaries, cases },
  scale,
  problems,
});
process.stdout.write(`\nResults written to ${path}\n`);

if (problems.length) {
  process.stderr.write(`\nCORRECTNESS FAILURES (${problems.length}):\n${problems.map((p) => `  ✗ ${p}`).join("\n")}\n`);
  process.exit(1);
}
process.stdout.write(`Correctness: every run ended as the workload predicts (${cases.length} W1 cases, ${scale.filter((s) => s.status === "measured").length} scale figures).\n`);

/**
 * One W1 case in a process of its own, so its peak RSS and CPU time are its alone. For the
 * postgres target, the server processes serving the case's database are sampled from here.
 */
async function runCaseProcess(spec: CaseSpec, progress: Progress): Promise<CaseResult> {
  const child = forkTs("./case.ts", caseArgs(spec));
  // Sampler calls are chained so start, measure marks and stop happen in the order the child sent them.
  let sampler: Promise<PostgresMemorySampler | { reason: string } | undefined> = Promise.resolve(undefined);
  child.on("message", (m: CaseMessage) => {
    if (m.type === "progress") progress.update(m.phase === "warmup" ? "warm-up" : "measure", m.done, m.total);
    if (m.type === "database" && postgres) {
      const url = postgres.url;
      sampler = sampler.then(() => PostgresMemorySampler.start(url, m.name));
    }
    if (m.type === "measuring") {
      sampler = sampler.then(async (s) => {
        if (s instanceof PostgresMemorySampler) await (m.isMeasuring ? s.measureStart() : s.measureEnd()).catch(() => undefined);
        return s;
      });
    }
  });
  try {
    const result = await nextMessage(child, (m) => ((m as CaseMessage).type === "result" ? (m as { result: CaseResult }).result : undefined), CASE_TIMEOUT_MS, "a result");
    const exit = await exited(child);
    if (exit.code !== 0) result.problems.push(`the case process exited ${exit.signal ?? `with code ${exit.code}`}`);
    const s = await sampler;
    if (s instanceof PostgresMemorySampler) result.server = await s.stop();
    else if (s) result.server = { unavailable: s.reason };
    return result;
  } catch (e) {
    child.kill("SIGKILL");
    const s = await sampler.catch(() => undefined);
    if (s instanceof PostgresMemorySampler) await s.stop();
    throw e;
  }
}

/** The code measured: the commit, and whether the tree had changes on top of it. */
function gitState(): { commit?: string; changedFiles?: number } {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const status = execFileSync("git", ["status", "--porcelain"], { cwd: REPO_ROOT, encoding: "utf8" });
    return { commit, changedFiles: status.split("\n").filter(Boolean).length };
  } catch {
    return {};
  }
}
