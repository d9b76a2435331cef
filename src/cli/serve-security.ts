import { UsageError } from "./cli-error.js";

/** What `server`, `dev` and `demo` take about auth and origins. */
export interface ServeSecurityFlags {
  host: string;
  token?: string;
  insecureNoAuth?: boolean;
  allowedOrigin?: string[];
}

/**
 * The server options for the flags, checked before anything opens: an empty `--token` or
 * `BATON_API_TOKEN` is a mistake (it would otherwise mean "no auth"), and so is a server open
 * to other machines without `--insecure-no-auth`. Returns the warnings to print loudly.
 */
export async function serveSecurity(flags: ServeSecurityFlags): Promise<{
  options: { token?: string; insecureNoAuth?: boolean; allowedOrigins?: string[] };
  warnings: string[];
}> {
  if (flags.token !== undefined && flags.token.trim() === "") {
    throw new UsageError(
      "--token (or BATON_API_TOKEN) is empty: give a real token, or leave both out to serve without one",
    );
  }
  const { checkSecurityOptions, parseAllowedOrigins } = await import("../server/index.js");
  const warnings = checkSecurityOptions({
    host: flags.host,
    token: flags.token,
    insecureNoAuth: flags.insecureNoAuth,
  });
  parseAllowedOrigins(flags.allowedOrigin);
  return {
    options: {
      ...(flags.token !== undefined ? { token: flags.token } : {}),
      ...(flags.insecureNoAuth ? { insecureNoAuth: true } : {}),
      ...(flags.allowedOrigin ? { allowedOrigins: flags.allowedOrigin } : {}),
    },
    warnings,
  };
}

/** The start-up line for an open server: hard to miss in a log. */
export function noAuthBanner(url: string): string {
  return `WARNING: NO AUTH — the API at ${url} is open to anyone who can reach it (--insecure-no-auth); set --token or BATON_API_TOKEN to protect it`;
}
