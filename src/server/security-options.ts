import { ValidationError } from "../common/index.js";
import { isLoopbackHost } from "./request-guards.js";

export interface SecurityOptions {
  host: string;
  token?: string | undefined;
  insecureNoAuth?: boolean | undefined;
}

/**
 * Refuses a server that would be open to other machines by mistake: an empty token, or no
 * token on an address other machines can reach without `insecureNoAuth`. Returns the warnings
 * the server must then carry (on /readyz and in its start-up log): `no auth` for a server open
 * on purpose.
 */
export function checkSecurityOptions(options: SecurityOptions): string[] {
  const { host, token } = options;
  if (token !== undefined) {
    if (token.trim().length === 0) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        "the API token is empty: set a real token, or leave it out to serve without one",
      );
    }
    if (/\s/.test(token)) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        "the API token contains white space, which no Authorization header can carry",
      );
    }
    return [];
  }
  if (isLoopbackHost(host)) return [];
  if (!options.insecureNoAuth) {
    throw new ValidationError(
      "INVALID_ARGUMENT",
      `refusing to serve the API without a token on ${host}, where other machines can reach it: ` +
        "set a token (--token or BATON_API_TOKEN), bind 127.0.0.1, or accept an open server with --insecure-no-auth",
    );
  }
  return ["no auth"];
}
