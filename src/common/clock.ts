/** A cancellable timer registered with a Clock. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * Time as the engine sees it. Everything that waits (durable timers, retry backoff,
 * attempt timeouts) goes through the injected Clock, so tests move time with
 * `ManualClock.advance(ms)` instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once `delayMs` have passed (0 or less: soon, never synchronously). */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
}

// setTimeout overflows past 2^31-1 ms (~24.8 days); longer timers re-arm in chunks.
const MAX_TIMEOUT_MS = 2_147_483_647;

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const dueAt = Date.now() + Math.max(0, delayMs);
    let handle: ReturnType<typeof setTimeout>;
    const arm = (): void => {
      const remaining = dueAt - Date.now();
      if (remaining > MAX_TIMEOUT_MS) handle = setTimeout(arm, MAX_TIMEOUT_MS);
      else handle = setTimeout(callback, Math.max(0, remaining));
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  }
}

interface ManualTimer {
  dueAt: number;
  order: number;
  callback: () => void;
  cancelled: boolean;
}

/** A clock that only moves when a test says so. */
export class ManualClock implements Clock {
  private current: number;
  private timers: ManualTimer[] = [];
  private order = 0;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer: ManualTimer = {
      dueAt: this.current + Math.max(0, delayMs),
      order: this.order++,
      callback,
      cancelled: false,
    };
    if (delayMs <= 0) {
      // Due now: fire on the next turn, like setTimeout(0), never synchronously.
      setTimeout(() => {
        if (!timer.cancelled) {
          timer.cancelled = true;
          callback();
        }
      }, 0);
    } else {
      this.timers.push(timer);
    }
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Moves time forward, firing every timer that falls due, in due order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const due = this.timers
        .filter((t) => t.dueAt <= target)
        .sort((a, b) => a.dueAt - b.dueAt || a.order - b.order)[0];
      if (!due) break;
      this.current = Math.max(this.current, due.dueAt);
      due.cancelled = true;
      due.callback();
    }
    this.current = target;
  }

  /** Number of timers still waiting: lets a test wait until the engine has armed one. */
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
