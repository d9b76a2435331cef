/** Durations as people read them: 840 ms, 3.2 s, 4 min 10 s, 2 h 5 min, 3 d 4 h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    const rest = Math.round(seconds - minutes * 60);
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    const rest = minutes - hours * 60;
    return rest ? `${hours} h ${rest} min` : `${hours} h`;
  }
  const days = Math.floor(hours / 24);
  const rest = hours - days * 24;
  return rest ? `${days} d ${rest} h` : `${days} d`;
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", then the date. */
export function formatAgo(at: string | number, now: number): string {
  const time = typeof at === "number" ? at : Date.parse(at);
  const ms = now - time;
  if (!Number.isFinite(ms)) return "—";
  if (ms < 2_000) return "just now";
  if (ms < 60_000) return `${Math.floor(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return formatDateTime(time);
}

/** Local date and time to the second, e.g. 2026-11-27 09:41:07. */
export function formatDateTime(at: string | number): string {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return "—";
  const pad = (n: number, width = 2): string => String(n).padStart(width, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** Local time with milliseconds, for journal entries: 09:41:07.123. */
export function formatClock(at: string | number): string {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return "—";
  const pad = (n: number, width = 2): string => String(n).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** An offset from a run's start: +0 ms, +1.2 s. */
export function formatOffset(ms: number): string {
  return `+${formatDuration(Math.max(0, ms))}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

export function formatPercent(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return "—";
  const percent = ratio * 100;
  return `${percent >= 99.95 || percent < 0.05 ? percent.toFixed(0) : percent.toFixed(1)} %`;
}

export function formatLatency(ms: number | null): string {
  return ms === null ? "—" : formatDuration(ms);
}

/** JSON on one line, cut to `max` characters. */
export function compactJson(value: unknown, max = 120): string {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
