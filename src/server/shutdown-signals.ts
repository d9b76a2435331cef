/**
 * Calls `shutdown` once on the first SIGINT or SIGTERM, for a process that serves until told
 * to stop (the CLI's `baton server`, `baton demo`). A second signal while shutting down is
 * left to Node's default, which ends the process at once: an operator pressing Ctrl-C twice
 * means it. Returns a function that removes the handlers.
 *
 * @example
 * const stop = onShutdownSignal(async (signal) => { await baton.close(); });
 */
export function onShutdownSignal(
  shutdown: (signal: NodeJS.Signals) => Promise<void> | void,
): () => void {
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];
  const handle = (signal: NodeJS.Signals): void => {
    remove();
    void Promise.resolve(shutdown(signal));
  };
  const remove = (): void => {
    for (const signal of signals) process.off(signal, handle);
  };
  for (const signal of signals) process.once(signal, handle);
  return remove;
}
