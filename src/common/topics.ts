import { ValidationError } from "./errors.js";
import { traceIdOf } from "./trace.js";

/**
 * Event topics are dotted lowercase names (`order.placed`); each segment is 1+ of a–z 0–9 _ -.
 * At most 100 characters and an event id at most 99, so `{topic}:{eventId}` — a trigger's default
 * run id — is always a valid run id.
 */
const TOPIC = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
export const MAX_TOPIC_LENGTH = 100;
/** Event ids use a run id's characters; `~` first is kept for Baton's own events (`~{position}`). */
const EVENT_ID = /^[A-Za-z0-9._:-][A-Za-z0-9._~:-]*$/;
export const MAX_EVENT_ID_LENGTH = 99;

/** First segments of the topics Baton publishes itself; users may not publish under them. */
export const RESERVED_TOPIC_ROOTS: readonly string[] = ["run", "step", "compensation", "baton"];

export function isTopic(topic: unknown): topic is string {
  return typeof topic === "string" && topic.length <= MAX_TOPIC_LENGTH && TOPIC.test(topic);
}

export function isReservedTopic(topic: string): boolean {
  const root = topic.split(".", 1)[0] ?? "";
  return RESERVED_TOPIC_ROOTS.includes(root);
}

/** A topic a user may publish to, or INVALID_TOPIC saying why not. */
export function assertUserTopic(topic: unknown): string {
  if (!isTopic(topic)) {
    throw new ValidationError(
      "INVALID_TOPIC",
      `topic ${JSON.stringify(topic)} is invalid: use dotted lowercase names (a–z 0–9 _ -), such as order.placed, at most ${MAX_TOPIC_LENGTH} characters`,
      { topic },
    );
  }
  if (isReservedTopic(topic)) {
    throw new ValidationError(
      "INVALID_TOPIC",
      `topic ${topic} is reserved: ${RESERVED_TOPIC_ROOTS.map((r) => `${r}.*`).join(", ")} are Baton's own events`,
      { topic },
    );
  }
  return topic;
}

/** A user-given event id, or INVALID_EVENT_ID saying why not. */
export function assertEventId(id: unknown): string {
  if (typeof id !== "string" || id.length > MAX_EVENT_ID_LENGTH || !EVENT_ID.test(id)) {
    throw new ValidationError(
      "INVALID_EVENT_ID",
      `event id ${JSON.stringify(id)} is invalid: use 1–${MAX_EVENT_ID_LENGTH} characters of A–Z a–z 0–9 . _ - ~ :, not starting with ~`,
      { id },
    );
  }
  return id;
}

/** The id of one of Baton's own (lifecycle) events: its log position after a `~`. */
export function lifecycleEventId(position: number): string {
  return `~${position}`;
}

/**
 * The default id of an event a run emits: the same on every replay of that run (runId and seq),
 * hashed when the run id is too long to fit.
 */
export function emittedEventId(runId: string, seq: number): string {
  const id = `${runId}:${seq}`;
  if (id.length <= MAX_EVENT_ID_LENGTH) return id;
  return `${runId.slice(0, 60)}.${traceIdOf(runId)}:${seq}`.slice(0, MAX_EVENT_ID_LENGTH);
}

/**
 * Topic patterns, as `GET /v1/events?topic=` takes them: a comma list of dotted names in which a
 * segment `*` matches any one segment (`order.*` matches `order.placed`, not `order.item.added`);
 * `*` alone matches every topic.
 */
export type TopicFilter = (topic: string) => boolean;

const PATTERN_SEGMENT = /^([a-z0-9_-]+|\*)$/;

export function parseTopicPatterns(spec: string | readonly string[] | undefined): TopicFilter {
  const patterns = (typeof spec === "string" ? [spec] : (spec ?? []))
    .flatMap((part) => part.split(","))
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (patterns.length === 0 || patterns.includes("*")) return () => true;
  const exact = new Set<string>();
  const wild: string[][] = [];
  for (const pattern of patterns) {
    const segments = pattern.split(".");
    if (pattern.length > MAX_TOPIC_LENGTH || !segments.every((s) => PATTERN_SEGMENT.test(s))) {
      throw new ValidationError(
        "INVALID_TOPIC",
        `topic pattern ${JSON.stringify(pattern)} is malformed: use dotted lowercase names (a–z 0–9 _ -) where a segment may be *, such as order.* or run.failed`,
        { topic: pattern },
      );
    }
    if (segments.includes("*")) wild.push(segments);
    else exact.add(pattern);
  }
  return (topic) => {
    if (exact.has(topic)) return true;
    if (wild.length === 0) return false;
    const parts = topic.split(".");
    return wild.some(
      (segments) =>
        segments.length === parts.length && segments.every((s, i) => s === "*" || s === parts[i]),
    );
  };
}

/** Whether an event's data has every `where` field equal (top-level fields, JSON equality). */
export function matchesWhere(
  data: unknown,
  where: Readonly<Record<string, unknown>> | undefined,
): boolean {
  if (!where) return true;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return Object.keys(where).length === 0;
  }
  const record = data as Record<string, unknown>;
  return Object.entries(where).every(([key, value]) => jsonEqual(record[key], value));
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
