import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * The dashboard (ui/, built by `npm run build:ui` into ui/dist) served at `/`. It is a single
 * page app that speaks to the server only through /v1, like any other client: these routes
 * only hand out its files, open without the token (auth.ts) — the page asks for the token and
 * sends it on every API call.
 */

/** Where `vite build ui` writes; relative to this file, so it holds under tsx and in a clone. */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../ui/dist/", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The page may load its own files and call its own origin, nothing else. Styles set from
 * script (React's `style`) are not inline styles in CSP's sense and need no exception.
 */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Baton</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The dashboard is not built</h1>
<p>Run <code>npm run build:ui</code> (<code>npm install</code> does it too), then reload this page.
The API answers at <code>/v1</code> meanwhile; <a href="/openapi.json">/openapi.json</a> describes it.</p>
</body></html>`;

/**
 * Serves the built dashboard: `/` and the files of ui/dist (hashed assets cached for good),
 * and, through `fallback`, the page itself for any other browser navigation outside /v1, so
 * that deep links such as `/runs/o-1` load the app.
 */
export function registerDashboard(app: FastifyInstance, dir: string = DASHBOARD_DIR): void {
  const cache = new Map<string, Buffer>();

  async function sendFile(reply: FastifyReply, relative: string): Promise<FastifyReply> {
    const path = normalize(join(dir, relative));
    if (!path.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return notFound(reply);
    // Asset names carry a hash of their content: what was read once stays right.
    const isAsset = relative.startsWith("assets/");
    let body = isAsset ? cache.get(relative) : undefined;
    if (!body) {
      try {
        body = await readFile(path);
      } catch {
        return notFound(reply);
      }
      if (isAsset) cache.set(relative, body);
    }
    void reply.header("x-content-type-options", "nosniff");
    void reply.header(
      "cache-control",
      isAsset ? "public, max-age=31536000, immutable" : "no-cache",
    );
    return reply.type(CONTENT_TYPES[extname(path)] ?? "application/octet-stream").send(body);
  }

  app.get("/", { schema: { hide: true } }, (_request, reply) => sendPage(reply, dir));
  app.get<{ Params: { "*": string } }>("/assets/*", { schema: { hide: true } }, (request, reply) =>
    sendFile(reply, `assets/${request.params["*"]}`),
  );
  // The files beside index.html (favicon, theme script); listed once, at start.
  const rootFiles = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isFile() && entry.name !== "index.html")
        .map((entry) => entry.name)
    : [];
  for (const name of rootFiles) {
    app.get(`/${name}`, { schema: { hide: true } }, (_request, reply) => sendFile(reply, name));
  }
}

/**
 * Wraps the server's not-found handler: a browser navigating to a path that is no route and
 * not under /v1 gets the dashboard, which routes on the client; everything else (API calls,
 * JSON clients, other methods) gets the usual 404.
 */
export function dashboardFallback(
  notFound: (request: FastifyRequest, reply: FastifyReply) => void,
  dir: string = DASHBOARD_DIR,
): (request: FastifyRequest, reply: FastifyReply) => void | Promise<FastifyReply> {
  return (request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const isNavigation =
      (request.method === "GET" || request.method === "HEAD") &&
      path !== "/v1" &&
      !path.startsWith("/v1/") &&
      (request.headers.accept ?? "").includes("text/html");
    return isNavigation ? sendPage(reply, dir) : notFound(request, reply);
  };
}

async function sendPage(reply: FastifyReply, dir: string): Promise<FastifyReply> {
  let page: Buffer;
  try {
    // Read each time: it is small, and a rebuild shows without a restart.
    page = await readFile(join(dir, "index.html"));
  } catch {
    return reply.code(503).type(CONTENT_TYPES[".html"]!).send(NOT_BUILT);
  }
  return reply.headers(PAGE_HEADERS).type(CONTENT_TYPES[".html"]!).send(page);
}

function notFound(reply: FastifyReply): FastifyReply {
  reply.callNotFound();
  return reply;
}
