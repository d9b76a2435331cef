import { ValidationError, parseTopicPatterns, type TopicFilter } from "../common/index.js";

/**
 * A subscription's topic patterns are those of `GET /v1/events?topic=` (common/topics.ts): dotted
 * lowercase names where a segment `*` matches any one segment, and `*` alone every topic. Each is
 * one entry of the list, never a comma list of its own.
 */

/** Most patterns per subscription. */
export const MAX_TOPICS = 50;

/** Throws INVALID_TOPIC unless `pattern` is one topic pattern. */
export function checkTopicPattern(pattern: string): string {
  if (pattern.length === 0 || pattern.includes(",") || pattern.trim() !== pattern) {
    throw new ValidationError(
      "INVALID_TOPIC",
      `topic pattern ${JSON.stringify(pattern)} is malformed: one dotted name per entry, such as order.* or run.failed`,
      { topic: pattern },
    );
  }
  parseTopicPatterns(pattern);
  return pattern;
}

/** Whether a topic matches any of a subscription's patterns. */
export function topicMatcher(patterns: readonly string[]): TopicFilter {
  return parseTopicPatterns(patterns);
}
