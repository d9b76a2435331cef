/**
 * Every workflow test runs twice: as is, and with the engine dropping and replaying the run
 * from its journal after every operation, so replay is exercised everywhere.
 */
export const EXECUTION_MODES = [
  { name: "live", replayAfterEveryOp: false },
  { name: "replay after every op", replayAfterEveryOp: true },
] as const;
