import { notAvailable, type ScaleFigure } from "./figure.js";
import { killRecovery } from "./kill-recovery.js";
import { waitingRuns } from "./waiting-runs.js";

export type { ScaleFigure, ScaleResult, ScaleValue } from "./figure.js";

/** The W2 figures, in report order. A new figure is one module and one line here. */
export const SCALE_FIGURES: readonly ScaleFigure[] = [
  waitingRuns,
  killRecovery,
  notAvailable("http-starts", "Runs started per second through the HTTP API", "server not built yet"),
  notAvailable("queue-round-trip", "Queue command round trip (enqueue → worker → complete → resume)", "server not built yet"),
];
