/**
 * Hooks for testing code that uses Baton, kept apart from the production API: a clock that
 * moves only when told, and the fault points where crash tests stop the engine. `Baton.open`
 * takes them as options (`clock`, `faultInjector`, `replayAfterEveryOp`).
 *
 * @example
 * import { Baton } from "baton";
 * import { ManualClock } from "baton/testing";
 * const clock = new ManualClock();
 * const baton = await Baton.open({ db: "sqlite::memory:", workflows: [napper], clock });
 * await baton.start(napper, {}, { runId: "n-1" });
 * clock.advance(60_000); // the run's ctx.sleep(60_000) falls due: no real waiting
 */
import type { FaultPoint } from "../engine/index.js";

export { ManualClock } from "../common/index.js";
export type { FaultPoint } from "../engine/index.js";

/**
 * Called by the engine at each fault point it reaches; a crash test exits the process there
 * (e.g. `process.exit(1)` on the third "after-command-sent") and reopens the database.
 */
export type FaultInjector = (point: FaultPoint, runId: string) => void;
