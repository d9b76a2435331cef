import { useEffect, useLayoutEffect, useRef, useState } from "react";

/** The current time, updated every `intervalMs` while the component is shown. */
export function useNow(intervalMs = 1000, isTicking = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!isTicking) return undefined;
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs, isTicking]);
  return now;
}

/**
 * Runs `load` now and then every `intervalMs` (not while the tab is hidden, and never two at
 * once), until unmounted or `deps` change. `load` gets a signal that aborts on both.
 */
export function usePolling(
  load: (signal: AbortSignal) => Promise<void>,
  intervalMs: number,
  deps: readonly unknown[],
): void {
  const loadRef = useRef(load);
  useLayoutEffect(() => {
    loadRef.current = load;
  });
  useEffect(() => {
    const controller = new AbortController();
    let timer: number | undefined;
    const tick = async (): Promise<void> => {
      if (!document.hidden) {
        try {
          await loadRef.current(controller.signal);
        } catch {
          // `load` reports its own failures; polling goes on.
        }
      }
      if (!controller.signal.aborted) timer = window.setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller names what restarts it
  }, [intervalMs, ...deps]);
}

/** A value that follows `value` after it stopped changing for `delayMs`. */
export function useDebounced<T>(value: T, delayMs: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setDebounced(value), delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs]);
  return debounced;
}
