/** A second signal this soon after the first is the same Ctrl-C, delivered twice. */
const DUPLICATE_SIGNAL_MS = 500;

/**
 * Calls `shutdown` once on the first SIGINT or SIGTERM, for a process that serves until told
 * to stop (the CLI's `baton server`, `baton demo`). A second signal while shutting down ends
 * the process at once: an operator pressing Ctrl-C twice means it. One that arrives within
 * half a second of the first is ignored: a terminal's Ctrl-C reaches every process of its
 * group, and a wrapper (npm, tsx) relays it to its child as well, so one key press can arrive
 * twice. Returns a function that removes the handlers.
 *
 * @example
 * const stop = onShutdownSignal(async (signal) => { await baton.close(); });
 */
export function onShutdownSignal(
  shutdown: (signal: NodeJS.Signals) => Promise<void> | void,
): () => void {
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];
  let firstAt: number | undefined;
  const handle = (signal: NodeJS.Signals): void => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      void Promise.resolve(shutdown(signal));
      return;
    }
    if (Date.now() - firstAt < DUPLICATE_SIGNAL_MS) return;
    remove();
    // As Node's default would: the conventional status of a process ended by that signal.
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  const remove = (): void => {
    for (const signal of signals) process.off(signal, handle);
  };
  for (const signal of signals) process.on(signal, handle);
  return remove;
}
