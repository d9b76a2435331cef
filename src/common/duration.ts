import { ValidationError } from "./errors.js";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d{1,12})(ms|s|m|h|d)$/;

/**
 * Milliseconds of a duration such as "90s", "15m", "12h" or "30d" (also "500ms"); "0" and 0 are
 * zero. A number is taken as milliseconds. Anything else is refused with INVALID_DURATION, `what`
 * naming the setting in the message.
 *
 * @example parseDuration("30d", "retention") // 2_592_000_000
 */
export function parseDuration(value: string | number, what: string): number {
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else {
    const text = value.trim();
    if (text === "0") return 0;
    const match = DURATION.exec(text);
    if (match) {
      const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
      if (Number.isSafeInteger(ms)) return ms;
    }
  }
  throw new ValidationError(
    "INVALID_DURATION",
    `${what} ${JSON.stringify(value)} is not a duration: use a whole number and a unit (ms, s, m, h, d) such as "90s", "12h" or "30d", or 0`,
  );
}
