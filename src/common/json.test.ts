import { describe, expect, it } from "vitest";
import { decodeJson, encodeJson, findNonJson, jsonNestingDepth } from "./index.js";

class Money {
  constructor(readonly cents: number) {}
}

describe("findNonJson", () => {
  it.each([
    ["a string", "hello"],
    ["an empty string", ""],
    ["a boolean", false],
    ["zero and negative numbers", [0, -0, -1.5, Number.MAX_VALUE]],
    ["null", null],
    ["an empty object and array", { a: {}, b: [] }],
    [
      "nested objects and arrays",
      { order: { lines: [{ sku: "a", qty: 2, tags: ["x", null] }], paid: true } },
    ],
    ["an object without a prototype", Object.assign(Object.create(null) as object, { a: 1 })],
    ["an object with undefined properties", { a: 1, b: undefined, nested: { c: undefined } }],
    [
      "the same object reached twice without a cycle",
      ((shared) => ({ a: shared, b: [shared, shared] }))({ x: 1 }),
    ],
  ])("accepts %s", (_label, value) => {
    expect(findNonJson(value)).toBeUndefined();
  });

  it.each([
    ["a Date", { at: new Date(0) }, "$.at is a Date, not a plain object"],
    ["a Map", new Map([["a", 1]]), "$ is a Map, not a plain object"],
    ["a Set", { tags: new Set(["a"]) }, "$.tags is a Set, not a plain object"],
    ["a class instance", { total: new Money(100) }, "$.total is a Money, not a plain object"],
    ["NaN", { ratio: NaN }, "$.ratio is NaN"],
    ["Infinity", [1, Infinity], "$[1] is Infinity"],
    ["-Infinity", { low: -Infinity }, "$.low is -Infinity"],
    ["a BigInt", { big: 10n }, "$.big is a bigint"],
    ["a function", { run: () => 1 }, "$.run is a function"],
    ["a symbol", { tag: Symbol("t") }, "$.tag is a symbol"],
    ["an undefined array item", { items: [1, undefined, 3] }, "$.items[1] is undefined"],
    [
      "a hole in an array",
      Object.assign(new Array<unknown>(3), { 0: 1, 2: 3 }),
      "$[1] is undefined",
    ],
    ["undefined itself", undefined, "$ is undefined"],
  ])("refuses %s and names where it is", (_label, value, message) => {
    expect(findNonJson(value)).toBe(message);
  });

  it("names the path of a value deep inside arrays and objects", () => {
    expect(findNonJson({ a: [{ b: [0, { c: new Date(0) }] }] })).toBe(
      "$.a[0].b[1].c is a Date, not a plain object",
    );
  });

  it("refuses a circular reference in an object, with its path", () => {
    const order: Record<string, unknown> = { id: 1 };
    order.self = order;
    expect(findNonJson(order)).toBe("$.self is a circular reference");
  });

  it("refuses a circular reference through an array, with its path", () => {
    const list: unknown[] = [1];
    const holder = { list };
    list.push({ back: holder });
    expect(findNonJson(holder)).toBe("$.list[1].back is a circular reference");
  });

  it("starts the path at the name it is given", () => {
    expect(findNonJson({ when: new Date(0) }, "input")).toBe(
      "input.when is a Date, not a plain object",
    );
  });
});

describe("encodeJson and decodeJson", () => {
  it.each([
    ["null", null],
    ["a number", 42],
    ["a string", "text"],
    ["false", false],
    ["an object", { a: [1, { b: "c" }], d: null }],
    ["an empty array", []],
  ])("round-trips %s", (_label, value) => {
    const text = encodeJson(value);
    expect(typeof text).toBe("string");
    expect(decodeJson(text)).toEqual(value);
  });

  it("keeps undefined distinct from null", () => {
    expect(encodeJson(undefined)).toBeNull();
    expect(decodeJson(null)).toBeUndefined();
    expect(encodeJson(null)).toBe("null");
    expect(decodeJson("null")).toBeNull();
    expect(decodeJson(encodeJson(undefined))).toBeUndefined();
    expect(decodeJson(encodeJson(null))).toBeNull();
  });

  it("drops undefined object properties, as reading them gives undefined either way", () => {
    const decoded = decodeJson(encodeJson({ a: 1, b: undefined })) as Record<string, unknown>;
    expect(decoded).toEqual({ a: 1 });
    expect("b" in decoded).toBe(false);
  });
});

describe("deeply nested values", () => {
  const nest = (depth: number, leaf: unknown): unknown => {
    let value = leaf;
    for (let i = 0; i < depth; i++) value = i % 2 ? { a: value } : [value];
    return value;
  };

  it("checks a value nested 100,000 levels deep without overflowing the stack", () => {
    expect(findNonJson(nest(100_000, 1))).toBeUndefined();
    const bad = findNonJson(nest(100_000, NaN));
    expect(bad).toMatch(/^\$(\[0\]|\.a)+ is NaN$/);
    expect(bad?.length).toBeGreaterThan(250_000);
  });

  it("still tells a shared object from a cycle at any depth", () => {
    const shared = { x: 1 };
    expect(findNonJson(nest(5_000, [shared, shared]))).toBeUndefined();
    const cyclic: unknown[] = [];
    cyclic.push(nest(5_000, cyclic));
    expect(findNonJson(cyclic)).toMatch(/ is a circular reference$/);
  });
});

describe("jsonNestingDepth", () => {
  it.each([
    ["1", 0],
    ['"[{"', 0],
    ["[]", 1],
    ['{"a":[1,{"b":{}}]}', 4],
    ['[["\\"]]"], [1]]', 2],
    ["[".repeat(5_000) + "]".repeat(5_000), 5_000],
  ])("measures %s as %d", (text, depth) => {
    expect(jsonNestingDepth(text)).toBe(depth);
  });

  it("stops counting once past the limit", () => {
    expect(jsonNestingDepth("[".repeat(1_000_000), 64)).toBe(65);
  });
});
