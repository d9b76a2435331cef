/** A value that survives JSON.stringify → JSON.parse unchanged. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Where `value` stops being plain JSON, or undefined if it is JSON. Values the workflow
 * sees live must be the values it sees on replay, so anything JSON would silently change
 * (a Date, a Map, NaN, a class instance, a function) is refused rather than mangled.
 * Object properties that are `undefined` are allowed: JSON drops them and reading
 * them gives `undefined` either way.
 *
 * The walk keeps its own stack instead of recursing, so a value nested thousands of levels
 * deep is checked like any other instead of overflowing the call stack; the path is built
 * only for the answer, so the cost stays linear in the size of the value.
 */
export function findNonJson(value: unknown, path = "$"): string | undefined {
  const leaf = describeLeaf(value);
  if (leaf !== null) return leaf === undefined ? undefined : `${path}${leaf}`;
  const root = value as object;
  const rootProblem = notPlain(root);
  if (rootProblem) return `${path}${rootProblem}`;
  // Most values (a step's output, a call's input) are flat: checked without a stack or paths.
  if (isFlatJson(root)) return undefined;
  /** The objects and arrays on the way from the root to the one being walked. */
  const stack: Frame[] = [frameOf(root, "")];
  const ancestors = new Set<object>([root]);
  const pathTo = (segment: string): string =>
    path + stack.map((frame) => frame.segment).join("") + segment;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next >= frame.length) {
      stack.pop();
      ancestors.delete(frame.value);
      continue;
    }
    const index = frame.next++;
    let item: unknown;
    let segment: string;
    if (frame.keys === undefined) {
      item = (frame.value as unknown[])[index];
      segment = `[${index}]`;
      if (item === undefined) return `${pathTo(segment)} is undefined`;
    } else {
      const key = frame.keys[index]!;
      item = (frame.value as Record<string, unknown>)[key];
      segment = `.${key}`;
      if (item === undefined) continue;
    }
    const problem = describeLeaf(item);
    if (problem !== null) {
      if (problem !== undefined) return `${pathTo(segment)}${problem}`;
      continue;
    }
    const child = item as object;
    if (ancestors.has(child)) return `${pathTo(segment)} is a circular reference`;
    const notPlainProblem = notPlain(child);
    if (notPlainProblem) return `${pathTo(segment)}${notPlainProblem}`;
    stack.push(frameOf(child, segment));
    ancestors.add(child);
  }
  return undefined;
}

/** An object or array being walked by findNonJson, and how far. */
/** A plain object or array whose values are all JSON leaves (no nesting), with no problem. */
function isFlatJson(value: object): boolean {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined || describeLeaf(item) !== undefined) return false;
    }
    return true;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined && describeLeaf(item) !== undefined) return false;
  }
  return true;
}

interface Frame {
  value: object;
  /** How this value is reached from its parent: `.key` or `[i]`. */
  segment: string;
  /** An object's own enumerable keys; undefined for an array. */
  keys: readonly string[] | undefined;
  length: number;
  next: number;
}

function frameOf(value: object, segment: string): Frame {
  if (Array.isArray(value)) {
    return { value, segment, keys: undefined, length: value.length, next: 0 };
  }
  const keys = Object.keys(value);
  return { value, segment, keys, length: keys.length, next: 0 };
}

/**
 * For anything but an object or an array: undefined when it is JSON, else the end of the
 * message (` is NaN`). Null for an object or array, which the caller walks.
 */
function describeLeaf(value: unknown): string | undefined | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : ` is ${String(value)}`;
    case "object":
      return value === null ? undefined : null;
    case "undefined":
      return " is undefined";
    case "bigint":
    case "symbol":
    case "function":
      return ` is a ${typeof value}`;
  }
}

/** The end of the message for an object JSON would change (a Date, a Map, a class instance). */
function notPlain(value: object): string | undefined {
  if (Array.isArray(value)) return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return undefined;
  const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
  return ` is a ${name}, not a plain object`;
}

/**
 * How deeply a JSON text nests arrays and objects, read without parsing it: `1` is 0, `[]`
 * is 1, `{"a":[1]}` is 2. Stops counting once past `limit`, so a hostile body costs one
 * linear scan. Meant for text that is then parsed; brackets inside strings do not count.
 */
export function jsonNestingDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return deepest;
}

/** JSON text for a value, with `undefined` (a step that returns nothing) kept distinct. */
export function encodeJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function decodeJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}
