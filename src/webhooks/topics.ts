/**
 * Topic patterns of a subscription: dotted lowercase names (`order.placed`, `run.failed`) where a
 * segment may be `*`, matching exactly one segment of any name (`run.*`, `*.failed`).
 */

const SEGMENT = /^[a-z0-9][a-z0-9_-]*$/;

/** Longest pattern accepted, and most patterns per subscription. */
export const MAX_TOPIC_LENGTH = 200;
export const MAX_TOPICS = 50;

/** Why `pattern` is not a topic pattern, or undefined if it is one. */
export function topicPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return "a topic pattern cannot be empty";
  if (pattern.length > MAX_TOPIC_LENGTH)
    return `a topic pattern has at most ${MAX_TOPIC_LENGTH} characters`;
  const bad = pattern.split(".").find((segment) => segment !== "*" && !SEGMENT.test(segment));
  return bad === undefined
    ? undefined
    : `"${pattern}" is not a topic pattern: use dotted lowercase names (letters, digits, _ and -), with * for a whole segment`;
}

/** Whether `topic` matches `pattern`, segment by segment. */
export function matchesTopic(pattern: string, topic: string): boolean {
  const wanted = pattern.split(".");
  const actual = topic.split(".");
  return (
    wanted.length === actual.length &&
    wanted.every((segment, i) => segment === "*" || segment === actual[i])
  );
}

export function matchesAnyTopic(patterns: readonly string[], topic: string): boolean {
  return patterns.some((pattern) => matchesTopic(pattern, topic));
}
