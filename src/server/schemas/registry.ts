import { z } from "zod";

/** What the OpenAPI document says about a schema beyond its shape. */
export interface SchemaDocs {
  /** Makes the schema a named component (`#/components/schemas/{id}`). */
  id?: string;
  description?: string;
  /** JSON Schema `format`, e.g. date-time. */
  format?: string;
  [key: string]: unknown;
}

/**
 * The documentation of the API's schemas, for /openapi.json. A registry of the server's own
 * rather than zod's global one (which `.describe()` and `.meta()` write to), so nothing here
 * leaks into, or depends on, other users of zod in the process. Filled when the schema
 * modules load, never changed after.
 */
export const apiSchemas = z.registry<SchemaDocs>();

/** Attaches documentation to `schema` (the very instance, so use the returned value). */
export function documented<T extends z.ZodType>(schema: T, docs: string | SchemaDocs): T {
  apiSchemas.add(schema, typeof docs === "string" ? { description: docs } : docs);
  return schema;
}
