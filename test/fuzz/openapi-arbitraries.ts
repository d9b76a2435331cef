import fc from "fast-check";
import type { RawRequest } from "./raw-http.js";

/**
 * Requests generated from the server's own OpenAPI document: every operation, with path
 * parameters that are real (known runs, tasks, services) or hostile, query strings and headers
 * from the document plus noise, bodies that follow the schema, break it, or are not JSON at
 * all, and the content types, origins and credentials a confused or malicious client sends.
 */

type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
};

interface Parameter {
  in: "path" | "query" | "header";
  name: string;
  schema?: JsonSchema;
}

export interface Operation {
  method: string;
  /** `/v1/runs/{runId}` */
  path: string;
  parameters: Parameter[];
  bodySchema: JsonSchema | undefined;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: unknown }>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** Values the server knows, so that some requests reach deep into the handlers. */
export interface KnownValues {
  workflows: string[];
  runIds: string[];
  services: string[];
  taskIds: string[];
  signalNames: string[];
}

export interface FuzzContext {
  ownOrigin: string;
  token: string;
  known: KnownValues;
}

export function operationsOf(doc: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const body = op.requestBody as
        { content?: { "application/json"?: { schema?: JsonSchema } } } | undefined;
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        bodySchema: body?.content?.["application/json"]?.schema,
      });
    }
  }
  return operations;
}

/** Strings that have broken servers before: encodings, traversal, control and wide characters. */
const HOSTILE_STRINGS = [
  "",
  " ",
  ".",
  "..",
  "%",
  "%2",
  "%zz",
  "%00",
  "%2F",
  "%2e%2e",
  "a%2Fb",
  "%C0%AF",
  "%FF%FE",
  "%F0%9F%99%82",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "null",
  "undefined",
  "NaN",
  "-1",
  "0",
  "1e309",
  "9007199254740993",
  "true",
  "[]",
  "{}",
  "a:1@1",
  "x@",
  "@",
  ":",
  "~",
  "*",
  "run.*",
  "%25",
  "a".repeat(201),
  "b".repeat(600),
  "c".repeat(2100),
];

const pathSegment = (known: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...(known.length ? known : ["none"])) },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map(encodeURIComponent) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "binary", maxLength: 20 }).map((s) => {
        try {
          return encodeURIComponent(s);
        } catch {
          return "lone-surrogate";
        }
      }),
    },
    { weight: 1, arbitrary: fc.webSegment() },
  );

const scalarString = fc.oneof(
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.integer().map(String),
  fc.double().map(String),
);

/** Any JSON value, including nesting near and past the server's depth limit. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 40, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 300 }).map(nested) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("\u0000", "\ud800", "😀", 1e308, -0, Number.MAX_SAFE_INTEGER + 2, {
      __proto__: null,
      constructor: 1,
    }),
  },
);

function nested(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? { a: value } : [value];
  return value;
}

/** Values following `schema` most of the time, anything JSON otherwise. */
function valueFor(
  schema: JsonSchema | undefined,
  doc: OpenApiDocument,
  ctx: FuzzContext,
  name: string,
  depth = 0,
): fc.Arbitrary<unknown> {
  const resolved = resolve(schema, doc);
  const loose = anyJson;
  if (!resolved || depth > 4) return loose;
  const knownFor = knownValuesFor(name, ctx.known);
  const strict = strictValueFor(resolved, doc, ctx, depth);
  return fc.oneof(
    { weight: 5, arbitrary: strict },
    { weight: knownFor ? 4 : 0, arbitrary: fc.constantFrom(...(knownFor ?? ["-"])) },
    { weight: 1, arbitrary: loose },
  );
}

function strictValueFor(
  schema: JsonSchema,
  doc: OpenApiDocument,
  ctx: FuzzContext,
  depth: number,
): fc.Arbitrary<unknown> {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) {
    return fc.oneof(...alternatives.map((s) => valueFor(s, doc, ctx, "", depth + 1)));
  }
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      const properties = schema.properties ?? {};
      const record = fc.record(
        Object.fromEntries(
          Object.entries(properties).map(([key, s]) => [
            key,
            valueFor(s, doc, ctx, key, depth + 1),
          ]),
        ),
        { requiredKeys: (schema.required ?? []).filter((k) => k in properties) },
      );
      return fc.oneof(
        { weight: 6, arbitrary: record },
        {
          weight: 1,
          arbitrary: fc
            .tuple(record, fc.string({ maxLength: 8 }), anyJson)
            .map(([r, key, v]) => ({ ...r, [key]: v })),
        },
      );
    }
    case "array":
      return fc.array(valueFor(schema.items, doc, ctx, "", depth + 1), { maxLength: 4 });
    case "string":
      return fc.oneof(
        {
          weight: schema.pattern ? 4 : 0,
          arbitrary: fc.stringMatching(new RegExp(schema.pattern ?? "^x$")),
        },
        fc.string({
          minLength: schema.minLength ?? 0,
          maxLength: Math.min(schema.maxLength ?? 40, 40),
        }),
        { weight: 1, arbitrary: scalarString },
      );
    case "integer":
      return fc.oneof(
        fc.integer({ min: schema.minimum ?? -10, max: Math.min(schema.maximum ?? 1000, 1000) }),
        fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 53, -(2 ** 53)),
      );
    case "number":
      return fc.oneof(
        // Small: a number is a wait in seconds more often than not, and the run must stay short.
        fc.double({
          min: Math.min(schema.minimum ?? -10, 0),
          max: Math.min(schema.maximum ?? 1000, 0.05),
          noNaN: true,
        }),
        fc.constantFrom(-1, 0, 0.01, 1e308, -1e-308),
      );
    case "boolean":
      return fc.boolean();
    case undefined:
    default:
      return anyJson;
  }
}

function resolve(schema: JsonSchema | undefined, doc: OpenApiDocument): JsonSchema | undefined {
  if (!schema?.$ref) return schema;
  const name = schema.$ref.split("/").pop() ?? "";
  return doc.components?.schemas?.[name];
}

function knownValuesFor(name: string, known: KnownValues): string[] | undefined {
  switch (name) {
    case "runId":
    case "idempotency-key":
      return known.runIds;
    case "workflow":
      return known.workflows;
    case "service":
      return known.services;
    case "taskId":
      return known.taskIds;
    case "name":
      return known.signalNames;
    case "workerId":
      return ["fuzz-worker"];
    default:
      return undefined;
  }
}

/** A query value as it goes on the wire: mostly small, so waits stay short. */
const queryValue = (param: Parameter | undefined, ctx: FuzzContext): fc.Arbitrary<string> => {
  if (param?.name === "wait") return fc.constantFrom("0", "0.01", "", "-1", "301", "1e309", "x");
  if (param?.name === "status") {
    return fc.oneof(
      fc.constantFrom("pending", "running", "waiting", "completed", "failed", "cancelled"),
      scalarString,
    );
  }
  if (param?.name === "topic") {
    return fc.oneof(fc.constantFrom("run.*", "*", "step.failed,run.failed", "nope"), scalarString);
  }
  const known = param ? knownValuesFor(param.name, ctx.known) : undefined;
  return fc.oneof(
    { weight: 3, arbitrary: scalarString },
    { weight: known ? 2 : 0, arbitrary: fc.constantFrom(...(known ?? ["-"])) },
  );
};

function queryString(op: Operation, ctx: FuzzContext): fc.Arbitrary<string> {
  const declared = op.parameters.filter((p) => p.in === "query");
  const pair = fc.oneof(
    {
      weight: declared.length ? 4 : 0,
      arbitrary: fc
        .constantFrom(...(declared.length ? declared : [undefined]))
        .chain((p) => queryValue(p, ctx).map((v) => [p?.name ?? "x", v] as const)),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.string({ maxLength: 8 }), scalarString),
    },
  );
  return fc
    .array(pair, { maxLength: 4 })
    .chain((pairs) =>
      fc.oneof(
        fc.constant(
          pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"),
        ),
        fc.constantFrom("%", "a=%zz", "=&=", "a[b]=1", "&&&", "limit=1&limit=2"),
      ),
    )
    .map((q) => (q ? `?${q}` : ""));
}

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/json;charset=latin1",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json-patch+json",
  "application/vnd.baton+json",
  ";",
  "",
];

/** A body: schema-shaped, any JSON, or bytes that are not JSON at all. */
function bodyFor(
  op: Operation,
  doc: OpenApiDocument,
  ctx: FuzzContext,
): fc.Arbitrary<string | undefined> {
  const shaped = valueFor(op.bodySchema, doc, ctx, "").map((v) => JSON.stringify(v) ?? "null");
  // One field of the schema holding arrays nested up to 20,000 deep, past any recursion limit.
  const fields = Object.keys(resolve(op.bodySchema, doc)?.properties ?? {});
  const deep = fc
    .tuple(
      fc.constantFrom(...(fields.length ? fields : ["input"])),
      fc.integer({ min: 100, max: 20_000 }),
    )
    .map(([field, depth]) => `{${JSON.stringify(field)}:${"[".repeat(depth)}${"]".repeat(depth)}}`);
  return fc.oneof(
    { weight: 1, arbitrary: deep },
    { weight: op.bodySchema ? 8 : 1, arbitrary: shaped },
    { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? "null") },
    { weight: 2, arbitrary: fc.constant(undefined) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.string({ maxLength: 60 }),
        shaped.map((text) => text.slice(0, Math.max(0, text.length - 1))),
        fc.constantFrom(
          "{",
          "[1,",
          '{"a":}',
          "nul",
          '{"__proto__":{"x":1}}',
          '{"constructor":{"prototype":{"x":1}}}',
          "\u0000",
          "\ufeff{}",
          `{"input":${"[".repeat(5000)}${"]".repeat(5000)}}`,
          `${'{"a":'.repeat(3000)}1${"}".repeat(3000)}`,
          '{"input": 1e999}',
          '{"output": "\\ud800"}',
          '"just a string"',
          "  ",
        ),
      ),
    },
  );
}

export function requestArbitrary(
  operations: Operation[],
  doc: OpenApiDocument,
  ctx: FuzzContext,
): fc.Arbitrary<RawRequest> {
  // State-changing operations have the most to get wrong: they come up three times as often.
  const operation = fc.oneof(
    ...operations.map((op) => ({
      weight: op.method === "GET" ? 1 : 3,
      arbitrary: fc.constant(op),
    })),
  );
  return operation.chain((op) => {
    const pathParams = op.parameters.filter((p) => p.in === "path");
    const path = fc
      .tuple(...pathParams.map((p) => pathSegment(knownValuesFor(p.name, ctx.known) ?? [])))
      .map((values) =>
        pathParams.reduce((p, param, i) => p.replace(`{${param.name}}`, values[i] ?? ""), op.path),
      );
    const isStateChanging = op.method !== "GET";
    return fc
      .record({
        method: fc.oneof(
          { weight: 12, arbitrary: fc.constant(op.method) },
          {
            weight: 1,
            arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"),
          },
        ),
        path,
        query: queryString(op, ctx),
        contentType: fc.oneof(
          { weight: isStateChanging ? 20 : 1, arbitrary: fc.constant("application/json") },
          { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
          { weight: 2, arbitrary: fc.constant(undefined) },
        ),
        origin: fc.oneof(
          { weight: 20, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constant(ctx.ownOrigin) },
          {
            weight: 1,
            arbitrary: fc.constantFrom("http://evil.example", "null", "https://127.0.0.1", "x"),
          },
        ),
        fetchSite: rarely(fc.constantFrom("same-origin", "cross-site", "same-site", "none")),
        authorization: fc.oneof(
          { weight: 12, arbitrary: fc.constant(`Bearer ${ctx.token}`) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              undefined,
              "Bearer",
              "Bearer wrong",
              `Basic ${ctx.token}`,
              "Bearer  ",
            ),
          },
        ),
        idempotencyKey: rarely(pathSegment(ctx.known.runIds)),
        lastEventId: rarely(fc.constantFrom("0", "-1", "abc", "99999999999999999999")),
        body: op.bodySchema || isStateChanging ? bodyFor(op, doc, ctx) : fc.constant(undefined),
      })
      .map((r): RawRequest => {
        const headers: Record<string, string> = { accept: "application/json" };
        if (r.contentType !== undefined) headers["content-type"] = r.contentType;
        if (r.origin !== undefined) headers.origin = r.origin;
        if (r.fetchSite !== undefined) headers["sec-fetch-site"] = r.fetchSite;
        if (r.authorization !== undefined) headers.authorization = r.authorization;
        if (r.idempotencyKey !== undefined) {
          headers["idempotency-key"] = decodeSafely(r.idempotencyKey);
        }
        if (r.lastEventId !== undefined) headers["last-event-id"] = r.lastEventId;
        return {
          method: r.method,
          path: `${r.path}${r.query}`,
          headers,
          body: r.method === "GET" || r.method === "HEAD" ? undefined : r.body,
        };
      });
  });
}

/** `arbitrary` about one time in ten, else undefined. */
function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
