/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): the functions with the most self time,
 * and self time by where the code lives (engine, store, SQLite driver, Node internals, GC).
 *
 *   node --import tsx bench/case.ts --target sqlite-full --concurrency 128 --runs 10000 --cpu-profile /tmp/c128.cpuprofile
 *   npx tsx bench/profile-summary.ts /tmp/c128.cpuprofile [top]
 *
 * (`node --cpu-prof` works too; it writes one profile per thread — take the main thread's,
 * `CPU.*.0.001.cpuprofile` — and includes start-up and module loading.)
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg = "25"] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: profile-summary.ts <file.cpuprofile> [top]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

function where(url: string, name: string): string {
  if (name === "(garbage collector)") return "GC";
  if (name === "(idle)") return "idle";
  if (name === "(program)") return "(program: native, unattributed)";
  if (url.includes("better-sqlite3")) return "better-sqlite3 (JS side)";
  if (url.includes("/src/engine/")) return "src/engine";
  if (url.includes("/src/store/")) return "src/store";
  if (url.includes("/src/")) return "src/ (other)";
  if (url.includes("/bench/")) return "bench (driver, step bodies)";
  if (url.startsWith("node:")) return "node internals";
  if (url === "") return "native / builtins";
  return "other";
}

const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);

/** The nearest caller that is JavaScript with a source: who called into native code. */
function jsCaller(id: number): ProfileNode | undefined {
  for (let p = parentOf.get(id); p !== undefined; p = parentOf.get(p)) {
    const node = byId.get(p)!;
    if (node.callFrame.url !== "") return node;
  }
  return undefined;
}

function label(frame: ProfileNode["callFrame"]): string {
  const name = frame.functionName || "(anonymous)";
  const short = frame.url.replace(/^.*\/(src|bench|node_modules)\//, "$1/");
  // Lines of TypeScript files are those of tsx's transpiled output, not of the source: leave them out.
  const line = frame.url && !frame.url.endsWith(".ts") ? `:${frame.lineNumber + 1}` : "";
  return `${name}  ${short}${line}`;
}

const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
const nativeByCaller = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = byId.get(id)!.callFrame;
  if (frame.url === "" && !frame.functionName.startsWith("(")) {
    const caller = jsCaller(id);
    const key = `${frame.functionName}  ← ${caller ? label(caller.callFrame) : "?"}`;
    nativeByCaller.set(key, (nativeByCaller.get(key) ?? 0) + us);
  }
  const key = label(frame);
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const place = where(frame.url, frame.functionName);
  byPlace.set(place, (byPlace.get(place) ?? 0) + us);
}

const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
process.stdout.write(`profile: ${(totalUs / 1e6).toFixed(2)} s sampled\n\nself time by place\n`);
for (const [place, us] of [...byPlace].sort((a, b) => b[1] - a[1])) process.stdout.write(`${pct(us)} ${ms(us)}  ${place}\n`);
process.stdout.write(`\ntop ${topArg} functions by self time\n`);
for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) {
  process.stdout.write(`${pct(us)} ${ms(us)}  ${key}\n`);
}
process.stdout.write(`\nnative code by its JavaScript caller (SQLite statements show up here)\n`);
for (const [key, us] of [...nativeByCaller].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  process.stdout.write(`${pct(us)} ${ms(us)}  ${key}\n`);
}
