import { InvalidArgumentError, Option } from "commander";
import { parseDuration as parseRetentionMs } from "../common/index.js";

/** A TCP port; 0 lets the system pick a free one. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError("expected a port number from 0 to 65535.");
  }
  return port;
}

/** A duration in milliseconds, from 100 ms to a day. */
export function parseDuration(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 100 || ms > 86_400_000) {
    throw new InvalidArgumentError("expected a whole number of milliseconds from 100 to 86400000.");
  }
  return ms;
}

/** A retention period: "90s", "15m", "12h", "30d", a number of ms, or 0 (keep forever). */
export function parseRetention(value: string): string {
  try {
    parseRetentionMs(value, "retention");
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return value;
}

/** A `key=value` tag of `baton start --tag` (checked by the server). */
export function collectTag(
  value: string,
  previous: Record<string, string> = {},
): Record<string, string> {
  const equals = value.indexOf("=");
  if (equals < 1)
    throw new InvalidArgumentError(`expected key=value, e.g. customer=c-17; got ${value}`);
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) };
}

/** A `key=value` (or `key:value`) tag filter of `baton runs --tag`, repeated: AND-ed. */
export function collectTagFilter(value: string, previous: string[] = []): string[] {
  const match = /^([^=:]+)[=:](.*)$/.exec(value);
  if (!match)
    throw new InvalidArgumentError(`expected key=value, e.g. customer=c-17; got ${value}`);
  return [...previous, `${match[1]}:${match[2]}`];
}

/** A point in time as ISO 8601: given so, or as a duration before now ("15m", "7d"). */
export function parseTimeOption(value: string): string {
  const now = Date.now();
  if (/^\d+(ms|s|m|h|d)$/.test(value.trim())) {
    return new Date(now - parseRetentionMs(value, "time")).toISOString();
  }
  if (Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError(
      `expected an ISO 8601 time or a duration ago such as 12h; got ${value}`,
    );
  }
  return value;
}

/** A positive whole number of milliseconds, with no upper bound: a run's deadline. */
export function parseDeadline(value: string): number {
  const ms = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(ms) || ms < 1) {
    throw new InvalidArgumentError("expected a whole number of milliseconds, 1 or more.");
  }
  return ms;
}

/** An operation's sequence number: a whole number from 1. */
export function parseSeq(value: string): number {
  const seq = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(seq) || seq < 1) {
    throw new InvalidArgumentError("expected a sequence number: a whole number, 1 or more.");
  }
  return seq;
}

/** A number of events per second, 0 included. */
export function parseRate(value: string): number {
  const rate = Number(value);
  if (!Number.isFinite(rate) || rate < 0 || rate > 1_000) {
    throw new InvalidArgumentError("expected a number from 0 to 1000.");
  }
  return rate;
}

/** `--port N`, also read from PORT, as hosting platforms set it. */
export function portOption(fallback: number): Option {
  return new Option("--port <port>", "TCP port to listen on; 0 picks a free one")
    .env("PORT")
    .argParser(parsePort)
    .default(fallback);
}

export function hostOption(): Option {
  return new Option("--host <host>", "interface to bind; 0.0.0.0 for every one").default(
    "127.0.0.1",
  );
}

export function tokenOption(): Option {
  return new Option(
    "--token <token>",
    "require Authorization: Bearer <token> on every /v1 call",
  ).env("BATON_API_TOKEN");
}

export function insecureNoAuthOption(): Option {
  return new Option(
    "--insecure-no-auth",
    "serve without a token on an address other machines can reach (anyone there may start, cancel and read runs)",
  );
}

export function allowedOriginOption(): Option {
  return new Option(
    "--allowed-origin <origins...>",
    "browser origins accepted besides the server's own, e.g. https://baton.example.com behind a proxy",
  );
}
