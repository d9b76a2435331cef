import { BatonError } from "../common/index.js";

/** Exit codes: 0 ok; 1 the run ended any other way, was not found, or the server failed; 2 usage or bad input. */
export const ExitCode = {
  Ok: 0,
  Failed: 1,
  Usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake on the command line: a bad option value, JSON that does not parse, a missing file. */
export class UsageError extends BatonError {
  override name = "UsageError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super("USAGE", message, options);
  }
}

/** Codes that mean the request itself was wrong, whichever side noticed. */
const BAD_INPUT_CODES = new Set([
  "USAGE",
  "BAD_REQUEST",
  "INVALID_ARGUMENT",
  "INVALID_RUN_ID",
  "INPUT_NOT_JSON",
  "INPUT_INVALID",
  "INVALID_STATUS",
  "INVALID_CURSOR",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "DUPLICATE_WORKFLOW",
  "DUPLICATE_SERVICE",
  "INVALID_DEFINITION",
  "INVALID_CRON",
  "INVALID_TIMEZONE",
  "INVALID_SCHEDULE",
  "UNKNOWN_WORKFLOW",
]);

/** 2 for bad input (a 400, 413, 415 or 422 answer included), 1 for everything else. */
export function exitCodeOf(error: unknown): ExitCode {
  if (!(error instanceof BatonError)) return ExitCode.Failed;
  if (BAD_INPUT_CODES.has(error.code)) return ExitCode.Usage;
  const status = (error as { httpStatus?: unknown }).httpStatus;
  if (status === 400 || status === 413 || status === 415 || status === 422) return ExitCode.Usage;
  return ExitCode.Failed;
}

/**
 * One readable line, `error: RUN_NOT_FOUND: run x does not exist`, plus the schema's complaints
 * for INPUT_INVALID. Stack traces only with BATON_DEBUG=1: a CLI user acts on the message.
 */
export function describeError(e: unknown): string {
  const message = e instanceof Error ? e.message || e.name : String(e);
  const code = codeOf(e);
  const lines = [
    `error: ${code && code !== "USAGE" && !message.includes(code) ? `${code}: ` : ""}${message}`,
  ];
  if (e instanceof BatonError) {
    const issues = issuesOf(e.details).filter((issue) => !message.includes(issue));
    for (const issue of issues.slice(0, 10)) lines.push(`  - ${issue}`);
  }
  if (process.env.BATON_DEBUG && e instanceof Error && e.stack) lines.push(e.stack);
  return lines.join("\n");
}

/** Zod's issues as `path: message`, wherever the details keep them. */
function issuesOf(details: unknown): string[] {
  const issues = (details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) return [];
  return issues.map((issue: { path?: unknown; message?: unknown }) => {
    const path = Array.isArray(issue.path) && issue.path.length ? issue.path.join(".") : "input";
    return `${path}: ${typeof issue.message === "string" ? issue.message : JSON.stringify(issue)}`;
  });
}

/** A BatonError's code, or a Node system error's (`EADDRINUSE`, `ENOENT`). */
function codeOf(e: unknown): string | undefined {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** A listen failure in words: the usual one is a port already taken by another server. */
export function explainListenError(e: unknown, host: string, port: number): unknown {
  const code = codeOf(e);
  if (code === "EADDRINUSE") {
    return new BatonError(
      "PORT_IN_USE",
      `${host}:${port} is in use (another Baton, or a demo still running?); choose another with --port N`,
      { cause: e },
    );
  }
  if (code === "EACCES" || code === "EADDRNOTAVAIL") {
    return new BatonError(code, `cannot listen on ${host}:${port}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return e;
}
