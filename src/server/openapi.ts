import fastifySwagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
} from "fastify-type-provider-zod";
import { apiSchemas } from "./schemas/registry.js";

/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas (zod's own
 * `toJSONSchema`, through fastify-type-provider-zod) and served at /openapi.json.
 * Named schemas (schemas/registry.ts) become components; routes reference them.
 */

const transformSchemaObject = createJsonSchemaTransformObject({ schemaRegistry: apiSchemas });

/** Registers the document generator; must precede the routes so it sees them all. */
export function registerOpenApi(app: FastifyInstance): void {
  void app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Baton API",
        version: "v1",
        description:
          "Runs, workflows, services, the worker protocol and live events of a Baton " +
          'orchestrator. Errors are `{"error": {"code", "message", "details"?}}`.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: "http",
            scheme: "bearer",
            description: "needed on /v1 when the server runs with an API token",
          },
        },
      },
    },
    transform: createJsonSchemaTransform({ schemaRegistry: apiSchemas, skipList: [] }),
    // The generator emits every registered schema twice (as input and output components);
    // only those a route refers to are kept.
    transformObject: (document) =>
      withOptionalBodies(withoutUnusedSchemas(transformSchemaObject(document))),
  });
}

/** GET /openapi.json: open without the token, like the dashboard that reads it. */
export function registerOpenApiRoute(app: FastifyInstance): void {
  app.get("/openapi.json", { schema: { hide: true } }, () => app.swagger());
}

type Document = ReturnType<typeof transformSchemaObject>;

function withoutUnusedSchemas(document: Document): Document {
  const { components, paths } = document as { components?: { schemas?: object }; paths?: object };
  if (!components?.schemas) return document;
  const schemas = components.schemas as Record<string, unknown>;
  const used = new Set<string>();
  const pending = collectRefs(paths);
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (used.has(name)) continue;
    used.add(name);
    pending.push(...collectRefs(schemas[name]));
  }
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...document, components: { ...components, schemas: kept } } as Document;
}

/**
 * @fastify/swagger marks every request body required; a body whose schema has a default
 * (`{}` for cancel, retry, signal…) may be left out, and the document says so.
 */
function withOptionalBodies(document: Document): Document {
  const { paths } = document as { paths?: Record<string, Record<string, unknown>> };
  for (const operations of Object.values(paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const body = (operation as { requestBody?: { required?: boolean; content?: object } })
        .requestBody;
      const json = (body?.content as Record<string, { schema?: object }> | undefined)?.[
        "application/json"
      ];
      if (body && json?.schema && "default" in json.schema) body.required = false;
    }
  }
  return document;
}

/** Names of the component schemas `value` refers to, anywhere inside it. */
function collectRefs(value: unknown): string[] {
  const prefix = "#/components/schemas/";
  const found: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node !== null && typeof node === "object") {
      for (const [key, child] of Object.entries(node)) {
        if (key === "$ref" && typeof child === "string" && child.startsWith(prefix)) {
          found.push(child.slice(prefix.length));
        } else visit(child);
      }
    }
  };
  visit(value);
  return found;
}
