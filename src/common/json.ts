/** A value that survives JSON.stringify → JSON.parse unchanged. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Where `value` stops being plain JSON, or undefined if it is JSON. Values the workflow
 * sees live must be the values it sees on replay, so anything JSON would silently change
 * (a Date, a Map, NaN, a class instance, a function) is refused rather than mangled.
 * Object properties that are `undefined` are allowed: JSON drops them and reading
 * them gives `undefined` either way.
 */
export function findNonJson(value: unknown, path = "$", seen?: Set<object>): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `${path} is ${String(value)}`;
    case "object": {
      if (value === null) return undefined;
      const visited = seen ?? new Set<object>();
      if (visited.has(value)) return `${path} is a circular reference`;
      if (Array.isArray(value)) {
        visited.add(value);
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined) return `${path}[${i}] is undefined`;
          const found = findNonJson(item, `${path}[${i}]`, visited);
          if (found) return found;
        }
        visited.delete(value);
        return undefined;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
        return `${path} is a ${name}, not a plain object`;
      }
      visited.add(value);
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined) continue;
        const found = findNonJson(item, `${path}.${key}`, visited);
        if (found) return found;
      }
      visited.delete(value);
      return undefined;
    }
    case "undefined":
      return `${path} is undefined`;
    case "bigint":
    case "symbol":
    case "function":
      return `${path} is a ${typeof value}`;
  }
}

/** JSON text for a value, with `undefined` (a step that returns nothing) kept distinct. */
export function encodeJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function decodeJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}
