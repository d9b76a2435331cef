import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Numbered, append-only migrations from `migrations/{dialect}/NNNN-name.sql`, read from disk
 * beside this module: src/store/ and its compiled twin dist/store/ are both two levels below
 * the package root, where `migrations/` is (and is packed).
 */
export function loadMigrations(dialect: "sqlite" | "postgres"): Migration[] {
  const dir = fileURLToPath(new URL(`../../migrations/${dialect}/`, import.meta.url));
  return readdirSync(dir)
    .filter((file) => /^\d{4}-[\w-]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(dir + file, "utf8"),
    }));
}
