import { randomBytes } from "node:crypto";
import { ValidationError } from "../common/index.js";
import { MAX_TOPICS, checkTopicPattern } from "./topics.js";

export const MAX_URL_LENGTH = 2048;

/** What a subscription is made from, before checking. */
export interface SubscriptionInput {
  topics: readonly string[];
  url: string;
  /** A Standard Webhooks secret, `whsec_` + base64 of 24 to 64 random bytes; generated if absent. */
  secret?: string;
}

/** Throws INVALID_TOPIC unless `topics` is a non-empty list of topic patterns. */
export function checkTopics(topics: readonly string[]): string[] {
  if (topics.length === 0) {
    throw new ValidationError(
      "INVALID_TOPIC",
      "topics is empty: name at least one topic pattern, e.g. run.failed or order.*",
    );
  }
  if (topics.length > MAX_TOPICS) {
    throw new ValidationError(
      "INVALID_TOPIC",
      `topics has ${topics.length} patterns; at most ${MAX_TOPICS} are allowed`,
    );
  }
  for (const topic of topics) checkTopicPattern(topic);
  return [...new Set(topics)];
}

/** Throws INVALID_URL unless `url` is an absolute http(s) URL without credentials. */
export function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(
      "INVALID_URL",
      `url ${JSON.stringify(url.slice(0, 100))} is not an absolute URL: use http://host/path or https://host/path`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ValidationError(
      "INVALID_URL",
      `url must use http or https, not ${parsed.protocol.slice(0, -1)}`,
    );
  }
  if (url.length > MAX_URL_LENGTH) {
    throw new ValidationError(
      "INVALID_URL",
      `url is ${url.length} characters; at most ${MAX_URL_LENGTH} are allowed`,
    );
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new ValidationError(
      "INVALID_URL",
      "url must not carry a user name or password: deliveries are authenticated by their signature",
    );
  }
  return parsed.href;
}

/** Throws INVALID_SECRET unless `secret` is `whsec_` + base64 of 24 to 64 bytes. */
export function checkSecret(secret: string): string {
  const key = secret.startsWith("whsec_") ? secret.slice(6) : undefined;
  const bytes =
    key !== undefined && /^[A-Za-z0-9+/]+={0,2}$/.test(key) ? Buffer.from(key, "base64").length : 0;
  if (bytes < 24 || bytes > 64) {
    throw new ValidationError(
      "INVALID_SECRET",
      "secret must be whsec_ followed by the base64 of 24 to 64 random bytes (Standard Webhooks); leave it out to have one generated",
    );
  }
  return secret;
}

/** A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** A subscription id: `sub_` + 24 hex digits. */
export function newSubscriptionId(): string {
  return `sub_${randomBytes(12).toString("hex")}`;
}
