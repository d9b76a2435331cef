import { InvalidArgumentError, type Command } from "commander";
import { isTerminal } from "../../common/index.js";
import { ReplayChecker, type ReplayVerdict } from "../../engine/index.js";
import { openJournalReader, type JournalReader, type RunRecord } from "../../store/index.js";
import type { CliContext } from "../cli-context.js";
import { ExitCode, UsageError } from "../cli-error.js";
import { withoutPassword } from "../format.js";
import { loadDefinitions } from "../load-definitions.js";

interface ReplayCheckOptions {
  db?: string;
  workflows?: string[];
  limit: number;
  json?: boolean;
}

/** Runs read from the database per query. */
const PAGE = 200;
/** Progress goes to stderr at most this often on long checks. */
const PROGRESS_MS = 1_000;

/** One run that would not replay on the new code. */
interface Finding {
  runId: string;
  workflow: string;
  version: number;
  status: string;
  outcome: "diverges" | "no_code";
  seq?: number;
  journal?: { kind: string; name: string };
  code?: { kind: string; name: string };
  message: string;
}

/**
 * `baton replay-check --db URL --workflows FILE [--limit N]`: the deploy gate. Replays, with no
 * side effects, the journals of every run not yet terminal and of the N terminal runs that ended
 * last against the given code, and names each run that would diverge. Exit 1 if any would, 0 if
 * none, 2 on usage errors. The database is opened read-only (docs/versions.md).
 */
export function registerReplayCheckCommand(program: Command, context: CliContext): void {
  program
    .command("replay-check")
    .description(
      "deploy gate: replay runs' journals from a database (read-only) against new workflow code; exit 1 if any would diverge",
    )
    .option("--db <url>", "database: sqlite:PATH, a SQLite file path, or postgres://…")
    .option("--workflows <files...>", "ES modules (JS or TS) with the workflow code to check")
    .option("--limit <n>", "also check the N terminal runs that ended last", parseLimit, 100)
    .option("--json", "print the findings and the summary as one JSON document")
    .action(async (options: ReplayCheckOptions) => {
      if (!options.db) throw new UsageError("--db is required: sqlite:PATH or postgres://…");
      if (!options.workflows?.length)
        throw new UsageError("--workflows is required: the file(s) with the code to check");
      const { workflows } = await loadDefinitions(options.workflows);
      if (workflows.length === 0)
        throw new UsageError(`${options.workflows.join(", ")} define no workflow() to check`);
      const reader = openJournalReader(options.db);
      try {
        context.exitCode = await check(context, reader, new ReplayChecker(workflows), options);
      } finally {
        await reader.close();
      }
    });
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n > 1_000_000) {
    throw new InvalidArgumentError("expected a whole number of runs from 0 to 1000000.");
  }
  return n;
}

async function check(
  context: CliContext,
  reader: JournalReader,
  checker: ReplayChecker,
  options: ReplayCheckOptions,
): Promise<ExitCode> {
  context.note(`${withoutPassword(options.db!)}: ${await reader.proveReadOnly()}`);
  const unfinished = await reader.countUnfinished();
  const terminal = await reader.recentTerminalRuns(options.limit);
  const total = unfinished + terminal.length;
  context.note(
    `checking ${unfinished} run(s) in flight and the ${terminal.length} terminal run(s) that ended last`,
  );
  const findings: Finding[] = [];
  let checked = 0;
  let matched = 0;
  let skipped = 0;
  let lastProgress = Date.now();
  const checkOne = async (record: RunRecord): Promise<void> => {
    const verdict = await checker.check(record, await reader.readJournal(record.runId));
    checked++;
    if (verdict.outcome === "matches") matched++;
    // A finished run whose version the new code dropped is no risk: nothing replays it again.
    else if (verdict.outcome === "no_code" && isTerminal(record.status)) skipped++;
    else {
      const finding = toFinding(record, verdict);
      findings.push(finding);
      if (!options.json) context.print(describeFinding(finding));
    }
    if (Date.now() - lastProgress >= PROGRESS_MS) {
      lastProgress = Date.now();
      context.note(`… ${checked}/${total} runs checked, ${findings.length} would diverge`);
    }
  };
  let after: { createdAt: number; runId: string } | undefined;
  for (;;) {
    const page = await reader.unfinishedRuns(after, PAGE);
    for (const record of page) await checkOne(record);
    const last = page[page.length - 1];
    if (!last || page.length < PAGE) break;
    after = { createdAt: last.createdAt, runId: last.runId };
  }
  for (const record of terminal) await checkOne(record);

  const summary = {
    checked,
    inFlight: unfinished,
    terminal: terminal.length,
    matched,
    diverged: findings.filter((f) => f.outcome === "diverges").length,
    withoutCode: findings.filter((f) => f.outcome === "no_code").length,
    skipped,
  };
  if (options.json) context.printJson({ findings, summary });
  const line =
    `replay-check: ${checked} run(s) checked (${unfinished} in flight, ${terminal.length} terminal): ` +
    `${summary.matched} match, ${summary.diverged} would diverge` +
    (summary.withoutCode
      ? `, ${summary.withoutCode} in flight have no code for their version`
      : "") +
    (skipped ? `, ${skipped} terminal of versions no longer in the code skipped` : "");
  context.note(findings.length ? context.err.red(line) : line);
  return findings.length ? ExitCode.Failed : ExitCode.Ok;
}

function toFinding(
  record: RunRecord,
  verdict: Exclude<ReplayVerdict, { outcome: "matches" }>,
): Finding {
  return {
    runId: record.runId,
    workflow: record.workflow,
    version: record.version,
    status: record.status,
    outcome: verdict.outcome,
    ...(verdict.outcome === "diverges" && verdict.seq !== undefined ? { seq: verdict.seq } : {}),
    ...(verdict.outcome === "diverges" && verdict.journal ? { journal: verdict.journal } : {}),
    ...(verdict.outcome === "diverges" && verdict.code ? { code: verdict.code } : {}),
    message: verdict.message,
  };
}

/** `run o-17 (order v1, waiting) diverges at seq 3: journal has signal approve, code asked for step fraudCheck` */
function describeFinding(f: Finding): string {
  const run = `run ${f.runId} (${f.workflow} v${f.version}, ${f.status})`;
  if (f.outcome === "no_code") return `${run} cannot run: ${f.message}`;
  if (f.seq !== undefined && f.journal && f.code)
    return `${run} diverges at seq ${f.seq}: journal has ${f.journal.kind} ${f.journal.name}, code asked for ${f.code.kind} ${f.code.name}`;
  if (f.seq !== undefined && f.journal)
    return `${run} diverges at seq ${f.seq}: journal has ${f.journal.kind} ${f.journal.name}, the code did not ask for it`;
  return `${run} diverges: ${f.message}`;
}
