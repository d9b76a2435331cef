import { matchesWhere } from "../common/index.js";
import type { Op } from "./op.js";
import type { RunPort } from "./run-port.js";

/** Events read per look at the log. */
const PAGE = 200;
/** After a failed read of the store, look again this much later (nothing else would). */
const RETRY_MS = 1_000;

/**
 * Starts a wait for an event (ctx.waitForEvent) once the run is live. A new wait first reads the
 * log's end and journals it: events after that position count, so a replay — or a resume on
 * another node — waits for exactly the same events. Then the wait looks at the log once (an event
 * may have come while the wait was being written), and again whenever it is told of one: a
 * publish on this node, a notification from another, a restart.
 *
 * No event is missed: a publish marks the runs waiting for its topic due in its own transaction;
 * one that commits before the wait's row is written is found by the first look, which happens
 * after that write and reads only settled positions (Store.readEvents).
 */
export async function beginEventWait(
  run: RunPort,
  op: Op,
  timeoutAt: number | undefined,
  onTimeout: () => void,
): Promise<void> {
  const wait = op.eventWait!;
  if (wait.after < 0) {
    let after: number;
    try {
      after = await run.hostRef.lastEventPosition();
    } catch (e) {
      run.log.warn({ err: e, seq: op.seq }, "could not read the event log's end; trying again");
      run.hostRef.clock.setTimer(
        RETRY_MS,
        () => void beginEventWait(run, op, timeoutAt, onTimeout),
      );
      return;
    }
    if (op.settled || op.abandoned || run.halted || wait.after >= 0) return;
    wait.after = after;
    run.appendOp(op, "awaited", {
      topic: wait.topic,
      after,
      ...(wait.where ? { where: wait.where } : {}),
      ...(timeoutAt !== undefined ? { timeoutAt } : {}),
    });
  }
  if (timeoutAt !== undefined) run.armTimer(op, timeoutAt, { kind: "event" }, onTimeout);
  if (!(await run.durable())) return;
  await checkEventWait(run, op);
}

/**
 * Reads the log of the wait's topic after its position and completes the wait with the first
 * event whose data matches. Looks are serialised; a request during one makes it look again.
 */
export async function checkEventWait(run: RunPort, op: Op): Promise<void> {
  const wait = op.eventWait;
  if (!wait || wait.after < 0) return;
  if (wait.checking) {
    wait.checkAgain = true;
    return;
  }
  wait.checking = true;
  try {
    do {
      wait.checkAgain = false;
      for (;;) {
        if (op.settled || op.abandoned || run.halted) return;
        const events = await run.hostRef.readEvents(wait.after, PAGE, { topic: wait.topic });
        for (const event of events) {
          if (matchesWhere(event.data, wait.where)) {
            run.complete(op, "received", {
              output: event.data,
              eventId: event.eventId!,
              position: event.id!,
            });
            return;
          }
          // In memory only: the first match after the journaled position is the same on every
          // replay (the log only grows), so skipping what did not match changes nothing.
          wait.after = event.id!;
        }
        if (events.length < PAGE) break;
      }
    } while (wait.checkAgain);
    // Nothing yet. The publish that woke this run marked its row due: write it back as waiting.
    run.writer.rewriteRow();
  } catch (e) {
    run.log.warn({ err: e, seq: op.seq }, "could not read the event log; looking again soon");
    run.hostRef.clock.setTimer(RETRY_MS, () => void checkEventWait(run, op));
  } finally {
    wait.checking = false;
  }
}
