import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exited, forkTs, nextMessage } from "../child.js";
import type { ScaleFigure, ScaleResult } from "./figure.js";
import { StoreProbe, TERMINAL, pollUntil } from "./store-probe.js";

export type RecoveryMessage =
  | { type: "open"; openMs: number; at: number }
  | { type: "progress"; started: number }
  | { type: "started"; ms: number }
  | { type: "problem"; line: string }
  | { type: "close" };

const CHILD = "./scale/kill-recovery-child.ts";
const STEPS_PER_RUN = 3;

/**
 * W2: runs in flight, SIGKILL, restart. A child process starts the runs (step, durable sleep,
 * two steps) and is killed once every start has returned; a second child opens Baton on the
 * same file. Measured: restart (the fork) → every run terminal, polled read-only from here.
 * The durable sleeps set a floor: no run can end before its timer, so the report shows the
 * last timer's due time too.
 */
export const killRecovery: ScaleFigure = {
  id: "kill-recovery",
  title: "Runs in flight, SIGKILL, restart: time until all are terminal",
  async run(plan, progress): Promise<ScaleResult> {
    const runs = plan.killRuns;
    const dir = mkdtempSync(join(tmpdir(), "baton-bench-kill-"));
    const path = join(dir, "kill.db");
    const problems: string[] = [];
    const onProblem = (m: unknown) => {
      const message = m as RecoveryMessage;
      if (message.type === "problem" && problems.length < 5) problems.push(`engine logged an error: ${message.line}`);
      if (message.type === "progress") progress("starting", message.started, runs);
    };
    let probe: StoreProbe | undefined;
    let second: ChildProcess | undefined;
    const first = forkTs(CHILD, [path, "start", String(runs), String(plan.startConcurrency), String(plan.killSleepMs)]);
    first.on("message", onProblem);
    try {
      await nextMessage(first, (m) => ((m as RecoveryMessage).type === "started" ? true : undefined), 30 * 60_000, "started");
      first.kill("SIGKILL");
      const killed = await exited(first);
      if (killed.signal !== "SIGKILL") problems.push(`the first engine process ended ${killed.signal ?? `with code ${killed.code}`}, not by SIGKILL`);
      probe = new StoreProbe(path);
      const atKill = probe.countByStatus();
      const rowsAtKill = Object.values(atKill).reduce((a, b) => a + b, 0);
      const terminalAtKill = probe.count(TERMINAL);
      if (rowsAtKill !== runs) problems.push(`${rowsAtKill} runs in the store after the kill, ${runs} were started`);

      const restartAt = Date.now();
      second = forkTs(CHILD, [path, "resume"]);
      second.on("message", onProblem);
      const opened = await nextMessage(second, (m) => ((m as RecoveryMessage).type === "open" ? (m as { openMs: number; at: number }) : undefined), 5 * 60_000, "open");
      const p = probe;
      let terminal = 0;
      const allTerminal = await pollUntil(
        () => {
          terminal = p.count(TERMINAL);
          progress("recovering", terminal, runs);
          return terminal === runs;
        },
        10,
        10 * 60_000,
      );
      const allTerminalAt = Date.now();
      if (!allTerminal) problems.push(`only ${terminal} of ${runs} runs terminal 10 minutes after the restart: ${JSON.stringify(p.countByStatus())}`);
      second.send({ type: "close" } satisfies RecoveryMessage);
      const exit = await exited(second);
      if (exit.code !== 0) problems.push(`the restarted engine process exited ${exit.signal ?? `with code ${exit.code}`}`);

      const byStatus = probe.countByStatus();
      if (byStatus.completed !== runs) problems.push(`after recovery: ${JSON.stringify(byStatus)}, expected ${runs} completed`);
      const steps = probe.countEntries("step.completed");
      if (steps !== runs * STEPS_PER_RUN) problems.push(`journal has ${steps} step completions, expected ${runs * STEPS_PER_RUN}`);
      const lastTimer = probe.lastTimerDueAt() ?? restartAt;
      const total = allTerminalAt - restartAt;
      return {
        id: this.id,
        title: this.title,
        status: "measured",
        values: [
          { label: "runs started before the kill", value: rowsAtKill, unit: "runs" },
          { label: "of which in flight at the kill", value: rowsAtKill - terminalAtKill, unit: "runs" },
          { label: "restart → all terminal", value: total, unit: "ms" },
          { label: "restart → Baton.open returned (process start + recovery scan)", value: opened.at - restartAt, unit: "ms" },
          { label: "  of which Baton.open", value: opened.openMs, unit: "ms" },
          { label: "restart → last durable timer due (floor)", value: lastTimer - restartAt, unit: "ms" },
          { label: "all terminal after the last timer was due", value: allTerminalAt - Math.max(lastTimer, restartAt), unit: "ms" },
        ],
        problems,
      };
    } catch (e) {
      first.kill("SIGKILL");
      second?.kill("SIGKILL");
      problems.push(e instanceof Error ? e.message : String(e));
      return { id: this.id, title: this.title, status: "measured", values: [], problems };
    } finally {
      probe?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
