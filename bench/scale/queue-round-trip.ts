import type { ChildProcess } from "node:child_process";
import { exited, forkTs, nextMessage } from "../child.js";
import { percentile } from "../stats.js";
import type { ApiServerMessage, RoundTrip, WorkerMessage } from "./api-protocol.js";
import { startApiServer, type ApiServer } from "./api-server.js";
import type { ScaleFigure, ScaleResult, ScaleValue } from "./figure.js";
import { StoreProbe } from "./store-probe.js";

/**
 * W2: one queue command's round trip. The orchestrator (child process, SQLite, default
 * durability) runs `queueEcho` runs one at a time; each does a single `ctx.call` to the
 * queue-served service `bench-echo`, whose worker (`baton/worker`, SDK defaults) is another
 * process long-polling the API over HTTP. Measured per run: just before `start` → the result
 * held, in the orchestrator's process.
 *
 * The breakdown puts together the orchestrator's and the worker's clocks (the same machine's
 * wall clock, sub-ms) with the store's times (the engine's clock, whole ms), so a segment is
 * only good to about a millisecond, and the segments' p50s need not add up to the total's.
 */
export const queueRoundTrip: ScaleFigure = {
  id: "queue-round-trip",
  title: "Queue command round trip, one at a time (start → enqueue → worker poll → complete → run resumes → result)",
  async run(plan, progress): Promise<ScaleResult> {
    const problems: string[] = [];
    let server: ApiServer | undefined;
    let worker: ChildProcess | undefined;
    let probe: StoreProbe | undefined;
    try {
      server = await startApiServer("baton-bench-queue-");
      const s = server;
      worker = forkTs("./scale/queue-worker-child.ts", [s.url]);
      const w = worker;
      w.on("message", (m: WorkerMessage) => {
        if (m.type === "problem" && problems.length < 5) problems.push(`worker logged an error: ${m.line}`);
      });
      await nextMessage(w, (m) => ((m as WorkerMessage).type === "ready" ? true : undefined), 60_000, "ready");

      const onProgress = (m: ApiServerMessage) => {
        if (m.type === "round-trip-progress") progress("round trips", m.done, m.total);
      };
      s.child.on("message", onProgress);
      s.child.send({ type: "round-trips", runs: plan.queueRoundTrips, warmup: plan.queueWarmup } satisfies ApiServerMessage);
      const done = await nextMessage(
        s.child,
        (m) => ((m as ApiServerMessage).type === "round-trips-done" ? (m as { trips: RoundTrip[]; problems: string[] }) : undefined),
        30 * 60_000,
        "the round trips",
      );
      s.child.off("message", onProgress);
      problems.push(...done.problems);

      w.send({ type: "timings" } satisfies WorkerMessage);
      const timings = await nextMessage(
        w,
        (m) => ((m as WorkerMessage).type === "timings-are" ? (m as { handledAt: Record<string, number>; deliveries: number }) : undefined),
        60_000,
        "its timings",
      );
      w.send({ type: "stop" } satisfies WorkerMessage);
      const workerExit = await exited(w);
      if (workerExit.code !== 0) problems.push(`the worker process exited ${workerExit.signal ?? `with code ${workerExit.code}`}`);

      probe = new StoreProbe(s.dbPath);
      const byRun = new Map(probe.commandTimes("echo-m-").map((t) => [t.runId, t]));
      const total: number[] = [];
      const segments = { toEnqueued: [] as number[], toHandler: [] as number[], toCompleted: [] as number[], toReply: [] as number[], toResult: [] as number[] };
      for (const trip of done.trips) {
        total.push(trip.resultAt - trip.startAt);
        const task = byRun.get(trip.runId);
        const handledAt = timings.handledAt[trip.runId];
        if (!task || handledAt === undefined || task.replyAt === null) {
          if (problems.length < 10) problems.push(`run ${trip.runId}: ${!task ? "no task in the store" : handledAt === undefined ? "its command never reached the worker" : "no reply in its journal"}`);
          continue;
        }
        if (task.status !== "completed" || task.deliveries !== 1) {
          if (problems.length < 10) problems.push(`run ${trip.runId}: task ${task.status} after ${task.deliveries} deliveries, expected completed after 1`);
        }
        segments.toEnqueued.push(task.enqueuedAt - trip.startAt);
        segments.toHandler.push(handledAt - task.enqueuedAt);
        segments.toCompleted.push(task.endedAt - handledAt);
        segments.toReply.push(task.replyAt - task.endedAt);
        segments.toResult.push(trip.resultAt - task.replyAt);
      }
      if (done.trips.length !== plan.queueRoundTrips) problems.push(`${done.trips.length} round trips measured, ${plan.queueRoundTrips} planned`);
      const measuredRuns = Object.keys(timings.handledAt).filter((id) => id.startsWith("echo-m-")).length;
      if (measuredRuns !== plan.queueRoundTrips) problems.push(`the worker handled the commands of ${measuredRuns} measured runs, expected ${plan.queueRoundTrips}`);
      if (timings.deliveries !== plan.queueRoundTrips + plan.queueWarmup) {
        problems.push(`the worker's handler ran ${timings.deliveries} times for ${plan.queueRoundTrips + plan.queueWarmup} commands`);
      }

      const sorted = (xs: number[]) => Float64Array.from(xs).sort();
      const t = sorted(total);
      const values: ScaleValue[] = [
        { label: `round trips, one at a time (after ${plan.queueWarmup} warm-up)`, value: t.length, unit: "runs" },
        { label: "start → result p50", value: percentile(t, 50), unit: "ms" },
        { label: "start → result p95", value: percentile(t, 95), unit: "ms" },
        { label: "start → result p99", value: percentile(t, 99), unit: "ms" },
        { label: "  p50 start → command enqueued (run created, workflow reaches ctx.call)", value: percentile(sorted(segments.toEnqueued), 50), unit: "ms" },
        { label: "  p50 enqueued → worker handler called (commit, poll woken, claim, poll answer)", value: percentile(sorted(segments.toHandler), 50), unit: "ms" },
        { label: "  p50 handler called → task completed in the store (complete request)", value: percentile(sorted(segments.toCompleted), 50), unit: "ms" },
        { label: "  p50 task completed → reply in the run's journal (run resumed)", value: percentile(sorted(segments.toReply), 50), unit: "ms" },
        { label: "  p50 reply in the journal → result held by the caller", value: percentile(sorted(segments.toResult), 50), unit: "ms" },
      ];
      const note = "breakdown: p50 of each segment on its own (they need not add up to the total's p50); the store's times are whole ms, so each is good to about 1 ms";
      return { id: this.id, title: this.title, status: "measured", values, problems, note };
    } catch (e) {
      worker?.kill("SIGKILL");
      problems.push(e instanceof Error ? e.message : String(e));
      return { id: this.id, title: this.title, status: "measured", values: [], problems };
    } finally {
      probe?.close();
      if (server) {
        await server.close();
        problems.push(...server.problems);
      }
    }
  },
};
