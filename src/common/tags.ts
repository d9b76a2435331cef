import { ValidationError } from "./errors.js";

/** Tags of a run: string keys and values, set on start, searched with `tag=key:value`. */
export type RunTags = Record<string, string>;

/** One `key:value` condition of a runs search; several are AND-ed. */
export interface TagFilter {
  key: string;
  value: string;
}

export const MAX_TAGS = 16;
export const MAX_TAG_KEY_LENGTH = 64;
export const MAX_TAG_VALUE_LENGTH = 256;
/** Keys never hold ":" so that `key:value` splits at the first one. */
const TAG_KEY = /^[A-Za-z0-9._/-]+$/;
export const TAG_KEY_RULE = `1–${MAX_TAG_KEY_LENGTH} characters of A–Z a–z 0–9 . _ - /`;

/** The tags as given, checked: at most 16, keys by TAG_KEY_RULE, values strings of up to 256 characters. */
export function validateTags(tags: unknown): RunTags {
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) {
    throw invalid(`tags must be an object of string keys and string values, got ${describe(tags)}`);
  }
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > MAX_TAGS) {
    throw invalid(`a run has at most ${MAX_TAGS} tags, got ${entries.length}`);
  }
  const checked: RunTags = {};
  for (const [key, value] of entries) {
    assertTagKey(key, invalid);
    if (typeof value !== "string") {
      throw invalid(`tag ${key}: the value must be a string, got ${describe(value)}`);
    }
    if (value.length > MAX_TAG_VALUE_LENGTH) {
      throw invalid(
        `tag ${key}: the value has ${value.length} characters, at most ${MAX_TAG_VALUE_LENGTH} are allowed`,
      );
    }
    checked[key] = value;
  }
  return checked;
}

/** A `key:value` search condition (split at the first ":"), checked like a tag. */
export function parseTagFilter(text: string): TagFilter {
  const colon = text.indexOf(":");
  if (colon < 0) {
    throw badFilter(`tag filter ${JSON.stringify(text)} must be key:value, e.g. customer:c-17`);
  }
  const key = text.slice(0, colon);
  const value = text.slice(colon + 1);
  assertTagKey(key, badFilter);
  if (value.length > MAX_TAG_VALUE_LENGTH) {
    throw badFilter(
      `tag filter ${key}: the value is longer than ${MAX_TAG_VALUE_LENGTH} characters`,
    );
  }
  return { key, value };
}

/** Milliseconds of an ISO 8601 time given as a creation time bound (`createdAfter`, …). */
export function parseTimeBound(name: string, text: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) {
    throw badFilter(
      `${name} ${JSON.stringify(text)} is not an ISO 8601 time such as 2026-01-31T12:00:00Z`,
    );
  }
  return ms;
}

function assertTagKey(key: string, error: (message: string) => ValidationError): void {
  if (key.length === 0 || key.length > MAX_TAG_KEY_LENGTH || !TAG_KEY.test(key)) {
    throw error(`tag key ${JSON.stringify(key)} is invalid: use ${TAG_KEY_RULE}`);
  }
}

function invalid(message: string): ValidationError {
  return new ValidationError("INVALID_TAGS", message);
}

function badFilter(message: string): ValidationError {
  return new ValidationError("INVALID_FILTER", message);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}
