import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest, onRequestHookHandler } from "fastify";
import { BatonError } from "../common/index.js";
import { checkSecurityOptions } from "./security-options.js";

/**
 * Bearer-token auth for the API (docs/http-api.md, "Conventions"): with a token configured, every `/v1` call
 * needs `Authorization: Bearer <token>`; a missing one is 401 UNAUTHORIZED, a wrong one
 * 403 FORBIDDEN. Health, readiness, metrics, the OpenAPI document and the dashboard stay
 * open, so probes, scrapers and browsers need no secret.
 */

/** The API's routes: those that need the token when one is configured. */
const API_PREFIX = "/v1";

/**
 * Whether a request is an API call. Decided on the route fastify matched, not on the raw
 * URL, so an encoded or oddly spelled path cannot reach an API route without being one;
 * a request that matched no route is an API call when its path looks like one, so that
 * unknown /v1 paths do not tell a caller without the token which routes exist.
 */
function isApiCall(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  const path = route ?? request.url;
  return path === API_PREFIX || path.startsWith(`${API_PREFIX}/`);
}

/** Digests have one length whatever the tokens' lengths, as timingSafeEqual requires. */
function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** A hook that refuses API calls without the right token; no hook at all without a token. */
export function requireBearerToken(token: string): onRequestHookHandler {
  checkSecurityOptions({ host: "127.0.0.1", token });
  const expected = digest(token);
  return (request, _reply, done) => {
    if (!isApiCall(request)) {
      done();
      return;
    }
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match?.[1]) {
      done(
        new BatonError(
          "UNAUTHORIZED",
          header === undefined
            ? "this server needs an API token: send Authorization: Bearer <token>"
            : "the Authorization header must be: Bearer <token>",
        ),
      );
      return;
    }
    if (!timingSafeEqual(digest(match[1]), expected)) {
      done(new BatonError("FORBIDDEN", "the API token is not valid for this server"));
      return;
    }
    done();
  };
}
