import { isIP } from "node:net";
import type { FastifyRequest, onRequestHookHandler } from "fastify";
import { BatonError, ValidationError } from "../common/index.js";

/**
 * Defences against browsers used as a weapon: a page of another site posting to the API
 * (cross-site request forgery) and a page whose name was re-pointed at 127.0.0.1 (DNS
 * rebinding). Clients that are not browsers send no `Origin` and are not concerned.
 */

/** Methods that change state: they must say their body is JSON, even an empty one. */
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Whether `host` (a bind address or a host name) can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (isIP(name) === 4) return name.startsWith("127.");
  if (isIP(name) === 6) return name === "::1" || /^::ffff:127\./.test(name);
  return false;
}

/**
 * An origin as browsers send it, `scheme://host[:port]`, with the default port left out;
 * undefined for anything else (`null`, a path, garbage).
 */
export function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    if (url.username || url.password || url.pathname !== "/" || url.search || url.hash) {
      return undefined;
    }
    return url.origin;
  } catch {
    return undefined;
  }
}

/** Checks the `allowedOrigins` option once, when the server is built. */
export function parseAllowedOrigins(origins: readonly string[] | undefined): ReadonlySet<string> {
  const allowed = new Set<string>();
  for (const origin of origins ?? []) {
    const normalized = normalizeOrigin(origin.replace(/\/$/, ""));
    if (normalized === undefined) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `allowed origin ${JSON.stringify(origin)} is not an origin: use scheme://host[:port], e.g. https://baton.example.com`,
      );
    }
    allowed.add(normalized);
  }
  return allowed;
}

export interface OriginGuardOptions {
  /** Origins accepted besides the server's own (a dashboard behind a proxy that rewrites Host). */
  allowedOrigins: ReadonlySet<string>;
  /** The server is bound to a loopback address: browsers must also address it by a loopback name. */
  isLoopbackOnly: boolean;
}

/**
 * Refuses browser requests from pages of another origin with 403 FORBIDDEN_ORIGIN. The
 * server's own origin is the one the request names in its `Host` header: the dashboard,
 * served by this server, passes; a page of another site, or of another port, does not.
 * A server bound to loopback also refuses browser requests that reach it under a name
 * that is not a loopback one: that is what a DNS-rebinding page looks like.
 */
export function refuseForeignOrigins(options: OriginGuardOptions): onRequestHookHandler {
  return (request, _reply, done) => {
    done(foreignOriginError(request, options));
  };
}

function foreignOriginError(
  request: FastifyRequest,
  options: OriginGuardOptions,
): BatonError | undefined {
  const originHeader = single(request.headers.origin);
  const fetchSite = single(request.headers["sec-fetch-site"]);
  if (originHeader === undefined) {
    // Browsers send Origin with every state-changing request; one without it that still
    // says it comes from another site is refused all the same. A plain link followed from
    // another site (a GET navigation) stays allowed.
    if (
      STATE_CHANGING.has(request.method) &&
      (fetchSite === "cross-site" || fetchSite === "same-site")
    ) {
      return new BatonError(
        "FORBIDDEN_ORIGIN",
        `a ${fetchSite} browser request (Sec-Fetch-Site) may not change anything: browsers may call the API only from the dashboard it serves`,
      );
    }
    if (
      fetchSite !== undefined &&
      options.isLoopbackOnly &&
      !hasLoopbackHost(request) &&
      !isAllowedHost(request, options.allowedOrigins)
    ) {
      return rebinding(request);
    }
    return undefined;
  }
  const origin = normalizeOrigin(originHeader);
  if (origin === undefined) return forbidden(`Origin ${JSON.stringify(originHeader)}`);
  if (options.allowedOrigins.has(origin)) return undefined;
  const host = single(request.headers.host);
  if (host === undefined || hostOfOrigin(origin) !== normalizeHost(host, origin)) {
    return forbidden(`Origin ${origin}`);
  }
  if (options.isLoopbackOnly && !hasLoopbackHost(request)) return rebinding(request);
  return undefined;
}

function forbidden(what: string): BatonError {
  return new BatonError(
    "FORBIDDEN_ORIGIN",
    `${what} is not this server's origin: browsers may call the API only from the dashboard it serves`,
  );
}

function rebinding(request: FastifyRequest): BatonError {
  return new BatonError(
    "FORBIDDEN_ORIGIN",
    `this server listens on loopback only; a browser must reach it as localhost or 127.0.0.1, not as ${JSON.stringify(single(request.headers.host) ?? "")} (or start it with --allowed-origin for that name)`,
  );
}

/** The Host header names an allowed origin (a browser navigating there sends no Origin). */
function isAllowedHost(request: FastifyRequest, allowed: ReadonlySet<string>): boolean {
  const host = single(request.headers.host);
  if (host === undefined) return false;
  return ["http:", "https:"].some((scheme) => {
    const origin = normalizeOrigin(`${scheme}//${host}`);
    return origin !== undefined && allowed.has(origin);
  });
}

function hasLoopbackHost(request: FastifyRequest): boolean {
  const host = single(request.headers.host);
  if (host === undefined) return false;
  try {
    return isLoopbackHost(new URL(`http://${host}`).hostname);
  } catch {
    return false;
  }
}

function hostOfOrigin(origin: string): string {
  return new URL(origin).host;
}

/** The Host header as the origin's scheme would write it (`127.0.0.1:80` → `127.0.0.1` for http). */
function normalizeHost(host: string, origin: string): string | undefined {
  try {
    return new URL(`${new URL(origin).protocol}//${host}`).host;
  } catch {
    return undefined;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * State-changing requests must carry `Content-Type: application/json`, with a body or
 * without: a browser can send a cross-site form or a `text/plain` POST without asking the
 * server first, but never one with a JSON content type. Requests for no route are left to
 * the 404 answer.
 */
export const requireJsonContentType: onRequestHookHandler = (request, _reply, done) => {
  if (!STATE_CHANGING.has(request.method) || request.routeOptions.url === undefined) {
    done();
    return;
  }
  const type = single(request.headers["content-type"]);
  const mediaType = type?.split(";", 1)[0]?.trim().toLowerCase();
  if (mediaType === "application/json") {
    done();
    return;
  }
  done(
    new BatonError(
      "UNSUPPORTED_MEDIA_TYPE",
      type === undefined
        ? `${request.method} requests need Content-Type: application/json, even without a body`
        : `Content-Type ${JSON.stringify(type)} is not accepted: send application/json`,
    ),
  );
};
