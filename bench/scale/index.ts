import type { ScaleFigure } from "./figure.js";
import { httpStarts } from "./http-starts.js";
import { killRecovery } from "./kill-recovery.js";
import { queueRoundTrip } from "./queue-round-trip.js";
import { waitingRuns } from "./waiting-runs.js";

export type { ScaleFigure, ScaleResult, ScaleValue } from "./figure.js";

/** The W2 figures, in report order. A new figure is one module and one line here. */
export const SCALE_FIGURES: readonly ScaleFigure[] = [
  waitingRuns,
  killRecovery,
  httpStarts,
  queueRoundTrip,
];
