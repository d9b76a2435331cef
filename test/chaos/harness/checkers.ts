/**
 * Checkers over a chaos run's record: the client's history (every request and its answer), the
 * runs as the API shows them after the final wait, the services' ledger, the store's rows and
 * the nodes' exits. Each returns its violations, each naming the run and what was seen.
 */
import { acknowledged, type HistoryEntry } from "./client.js";

export const TERMINAL = new Set(["completed", "compensated", "failed", "cancelled"]);

export interface RunView {
  runId: string;
  workflow: string;
  status: string;
  output?: unknown;
  error?: { code: string; message: string };
  waitingOn?: unknown;
}

export interface EffectRow {
  idempotency_key: string;
  run_id: string;
  kind: string;
}

export interface StoredRun {
  run_id: string;
  workflow: string;
  starts: number;
}

export interface ChaosRecord {
  history: HistoryEntry[];
  /** Every runId whose start was acknowledged, with its final view (undefined: not readable). */
  runs: Map<string, RunView | undefined>;
  effects: EffectRow[];
  stored: StoredRun[];
  /** Signals (by id) that a run's journal shows received by more than one wait. */
  signalsReceivedTwice: { run_id: string; signal_id: string; seqs: number[] }[];
  /** Node id → how it exited on its own ("" for none). */
  exits: Map<string, string>;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  checked: number;
  violations: string[];
  /** Runs named by the violations, for their journals. */
  runIds: string[];
}

type Violation = [message: string, runId: string | undefined];

function result(name: string, checked: number, violations: Violation[]): CheckResult {
  return {
    name,
    ok: violations.length === 0,
    checked,
    violations: violations.map(([v]) => v),
    runIds: [...new Set(violations.flatMap(([, id]) => (id === undefined ? [] : [id])))],
  };
}

function acked(history: HistoryEntry[], op: HistoryEntry["op"]): HistoryEntry[] {
  return history.filter((e) => e.op === op && acknowledged(e));
}

/** Every acknowledged start ends terminal by the deadline after the heal. */
export function everyStartTerminal(r: ChaosRecord): CheckResult {
  const v: Violation[] = [];
  for (const [runId, run] of r.runs) {
    if (!run) v.push([`${runId}: not readable through any node`, runId]);
    else if (!TERMINAL.has(run.status))
      v.push([
        `${runId} (${run.workflow}) still ${run.status}, waiting on ${JSON.stringify(run.waitingOn)}`,
        runId,
      ]);
  }
  return result("acked start ends terminal", r.runs.size, v);
}

/** One run per runId: the store holds only runs we asked for, of the workflow asked, each started once. */
export function oneRunPerRunId(r: ChaosRecord): CheckResult {
  const asked = new Map<string, string>();
  for (const e of r.history) if (e.op === "start" && e.detail) asked.set(e.runId, e.detail);
  const v: Violation[] = [];
  for (const s of r.stored) {
    const workflow = asked.get(s.run_id);
    if (workflow === undefined) v.push([`${s.run_id}: a run nobody started`, s.run_id]);
    else if (workflow !== s.workflow)
      v.push([`${s.run_id}: is ${s.workflow}, was started as ${workflow}`, s.run_id]);
    if (s.starts !== 1)
      v.push([`${s.run_id}: ${s.starts} run.started entries in its journal`, s.run_id]);
  }
  const storedIds = new Set(r.stored.map((s) => s.run_id));
  for (const runId of r.runs.keys())
    if (!storedIds.has(runId)) v.push([`${runId}: acknowledged but not in the store`, runId]);
  return result("one run per runId", r.stored.length, v);
}

/** A completed `collect` run returns every signal whose send was acknowledged, and nothing else. */
export function noAckedSignalLost(r: ChaosRecord): CheckResult {
  const v: Violation[] = [];
  let checked = 0;
  for (const [runId, run] of r.runs) {
    if (run?.workflow !== "collect" || run.status !== "completed") continue;
    checked++;
    const items = new Set((run.output as { items?: string[] } | undefined)?.items ?? []);
    const sent = new Set(
      r.history.filter((e) => e.op === "signal" && e.runId === runId).map((e) => e.detail),
    );
    for (const e of acked(r.history, "signal"))
      if (e.runId === runId && !items.has(e.detail!))
        v.push([
          `${runId}: signal ${e.detail} acknowledged (${e.status} via ${e.node}) but not in the output ${JSON.stringify([...items])}`,
          runId,
        ]);
    for (const item of items)
      if (!sent.has(item)) v.push([`${runId}: output has ${item}, never sent`, runId]);
  }
  // A collect run that never completed lost a signal if all its signals were acknowledged.
  for (const [runId, run] of r.runs) {
    if (run?.workflow !== "collect" || run.status === "completed" || run.status === "cancelled")
      continue;
    v.push([
      `${runId}: ended ${run.status} (${run.error?.code ?? ""}) though its signals were sent`,
      runId,
    ]);
  }
  return result("no acked signal lost", checked, v);
}

/** A signal is delivered to one wait only: no journal receives one signal id twice. */
export function signalReceivedOnce(r: ChaosRecord): CheckResult {
  const v: Violation[] = r.signalsReceivedTwice.map((d) => [
    `${d.run_id}: signal ${d.signal_id} received by the waits of seqs ${d.seqs.join(", ")}`,
    d.run_id,
  ]);
  return result("signal received once", r.stored.length, v);
}

/** Each command of a run took effect under one idempotency key at most (no step ran twice in effect). */
export function effectsAtMostOnce(r: ChaosRecord): CheckResult {
  const keys = new Map<string, Set<string>>();
  for (const e of r.effects) {
    const k = `${e.run_id} ${e.kind}`;
    if (!keys.has(k)) keys.set(k, new Set());
    keys.get(k)!.add(e.idempotency_key);
  }
  const v: Violation[] = [];
  for (const [k, set] of keys) {
    if (set.size > 1) {
      const [runId, kind] = k.split(" ");
      v.push([
        `${runId}: ${kind} took effect under ${set.size} keys ${[...set].join(", ")}`,
        runId,
      ]);
    }
  }
  return result("effects at most once per key", keys.size, v);
}

/**
 * The ledgers balance: per terminal order, charges − refunds is 1 if it completed, 0 otherwise;
 * reservations − releases too (unless the run ended saying an outcome stayed unknown); summed,
 * charges − refunds = completed orders.
 */
export function ledgersBalance(r: ChaosRecord): CheckResult {
  const count = (runId: string, kind: string): number =>
    r.effects.filter((e) => e.run_id === runId && e.kind === kind).length;
  const v: Violation[] = [];
  let completed = 0;
  let net = 0;
  let checked = 0;
  for (const [runId, run] of r.runs) {
    if (run?.workflow !== "order" || !TERMINAL.has(run.status)) continue;
    checked++;
    const want = run.status === "completed" ? 1 : 0;
    completed += want;
    const payments = count(runId, "charge") - count(runId, "refund");
    net += payments;
    if (payments !== want)
      v.push([
        `${runId} ended ${run.status}${run.error ? ` (${run.error.code})` : ""}: charges − refunds = ${payments}, expected ${want}`,
        runId,
      ]);
    const stock = count(runId, "reserve") - count(runId, "release");
    if (stock !== want && run.error?.code !== "UNKNOWN_OUTCOME")
      v.push([
        `${runId} ended ${run.status}${run.error ? ` (${run.error.code})` : ""}: reservations − releases = ${stock}, expected ${want}`,
        runId,
      ]);
  }
  if (net !== completed)
    v.push([`in all: charges − refunds = ${net}, completed orders = ${completed}`, undefined]);
  return result("ledgers balance", checked, v);
}

/** A run whose cancel was acknowledged never ends completed. */
export function ackedCancelHonoured(r: ChaosRecord): CheckResult {
  const v: Violation[] = [];
  const cancelled = new Set(acked(r.history, "cancel").map((e) => e.runId));
  for (const runId of cancelled) {
    const run = r.runs.get(runId);
    if (run?.status === "completed")
      v.push([`${runId}: cancel acknowledged, yet the run completed`, runId]);
  }
  return result("acked cancel honoured", cancelled.size, v);
}

export function noNodeExited(r: ChaosRecord): CheckResult {
  const v: Violation[] = [];
  for (const [node, how] of r.exits)
    if (how) v.push([`node ${node} exited on its own: ${how}`, undefined]);
  return result("no node exited on its own", r.exits.size, v);
}

export const CHECKERS = [
  everyStartTerminal,
  oneRunPerRunId,
  noAckedSignalLost,
  signalReceivedOnce,
  effectsAtMostOnce,
  ledgersBalance,
  ackedCancelHonoured,
  noNodeExited,
];
