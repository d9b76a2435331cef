import type { FastifyInstance, FastifySchemaCompiler } from "fastify";
import type { z } from "zod";
import { ValidationError, jsonNestingDepth } from "../common/index.js";
import { invalidRequest, malformedJson } from "./errors.js";

/**
 * How deeply a request body may nest arrays and objects. Far beyond any real input, and far
 * below what would strain the recursive parts of the pipeline (JSON.stringify, schemas).
 */
export const MAX_JSON_DEPTH = 128;

/**
 * How request bodies and parameters become values: JSON only, checked by the route's zod
 * schemas, refusals in the contract's error shape.
 */

/**
 * Validates a request part with its zod schema. Fastify hands an absent body over as null;
 * it is treated as no body at all, so `POST /v1/runs/{id}/retry` needs none.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  return (data: unknown) => {
    const value = httpPart === "body" && data === null ? undefined : data;
    const result = schema.safeParse(value);
    return result.success
      ? { value: result.data }
      : { error: invalidRequest(httpPart, result.error.issues) };
  };
};

/**
 * Answers are plain JSON.stringify: the zod response schemas document the API and type the
 * handlers, but do not filter answers (see schemas/wire.ts).
 */
export function jsonSerializerCompiler(): (data: unknown) => string {
  return (data) => JSON.stringify(data);
}

/**
 * JSON is the only body type. An empty body counts as none, so clients that always send
 * `Content-Type: application/json` can call the endpoints that need no body. Parsing keeps
 * fastify's guard against `__proto__` and `constructor.prototype` keys; a body nested deeper
 * than MAX_JSON_DEPTH is refused before it is parsed.
 */
export function acceptJsonBodiesOnly(app: FastifyInstance): void {
  const parseSafely = app.getDefaultJsonParser("error", "error");
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") {
      done(null, undefined);
      return;
    }
    if (jsonNestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      done(
        new ValidationError(
          "BAD_REQUEST",
          `the request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`,
          { maxDepth: MAX_JSON_DEPTH },
        ),
        undefined,
      );
      return;
    }
    void parseSafely(request, text, (error, value) => {
      if (error) done(malformedJson(whyNotJson(text)), undefined);
      else done(null, value);
    });
  });
}

/** The parser's reason, for the answer: JSON.parse names the position of the mistake. */
function whyNotJson(text: string): string {
  try {
    JSON.parse(text);
    return "keys named __proto__ or constructor.prototype are refused";
  } catch (e) {
    return e instanceof Error ? e.message : "it does not parse";
  }
}
