import {
  EventType,
  RESERVED_TOPIC_ROOTS,
  ValidationError,
  parseTopicPatterns,
  type BatonEvent,
  type TopicFilter,
} from "../../common/index.js";
import { EventsQuery, PublishBody } from "../schemas/requests.js";
import { BatonEventSchema, PublishedSchema, errorResponses } from "../schemas/wire.js";
import { DURABLE_EVENT_TYPES, tailDurableEvents } from "../durable-events.js";
import { SseStream } from "../sse.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

const EVENT_TYPES: readonly string[] = Object.values(EventType);

/** What a `topic` parameter selects, and whether any of it is in the durable log. */
export interface TopicSelection {
  matches: TopicFilter;
  /** Some selected event can be in the durable log (a user topic, or a durable Baton type). */
  selectsDurable: boolean;
}

/**
 * Which events a `topic` parameter selects: a comma list of dotted patterns where a segment may
 * be `*` (`order.*`, `run.failed`), `*` (default) for all. A malformed pattern is refused
 * (INVALID_TOPIC); so is a pattern under Baton's own roots (`run.`, `step.`…) that matches none
 * of Baton's events, so a typo there does not look like a quiet system. User topics are open:
 * any well-formed name may be followed before anything is published to it.
 */
export function parseTopics(topic: string | string[] | undefined): TopicSelection {
  const matches = parseTopicPatterns(topic);
  const patterns = (Array.isArray(topic) ? topic : [topic ?? ""])
    .flatMap((part) => part.split(","))
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  let selectsDurable = patterns.length === 0 || patterns.includes("*");
  for (const pattern of patterns) {
    if (pattern === "*") continue;
    const root = pattern.split(".", 1)[0]!;
    if (root === "*" || !RESERVED_TOPIC_ROOTS.includes(root)) {
      selectsDurable = true;
      continue;
    }
    const one = parseTopicPatterns(pattern);
    const known = EVENT_TYPES.filter((type) => one(type));
    if (known.length === 0) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `topic ${JSON.stringify(pattern)} matches none of Baton's own events; use one of ${EVENT_TYPES.join(", ")}, run.*, step.*, or a topic of your own outside ${RESERVED_TOPIC_ROOTS.map((r) => `${r}.*`).join(", ")}`,
        { topic: pattern },
      );
    }
    if (known.some((type) => DURABLE_EVENT_TYPES.has(type))) selectsDurable = true;
  }
  return { matches, selectsDurable };
}

/**
 * POST /v1/events publishes a user event; GET /v1/events streams events as Server-Sent Events —
 * live, or from the durable log (user events and run ends of every node) with `after` or
 * `Last-Event-ID`.
 */
export function registerEventRoutes(app: ZodApp, context: RouteContext): void {
  app.post(
    "/v1/events",
    {
      schema: {
        tags: [Tag.Events],
        summary: "Publish an event",
        description:
          "Writes a user event to the durable log and starts the runs of the workflows its topic " +
          "triggers, in one transaction. 202 `{id}` once durable. `id` is the idempotency key: " +
          "publishing an id that exists writes nothing and answers 200 with the existing event.",
        security: BEARER,
        body: PublishBody,
        response: {
          200: BatonEventSchema,
          202: PublishedSchema,
          ...errorResponses(400, 401, 403, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { topic, data, id } = request.body;
      const result = await context.engine.publish(topic, data, id === undefined ? {} : { id });
      if (!result.created) return reply.code(200).send(result.event);
      return reply.code(202).send({ id: result.event.eventId! });
    },
  );

  app.get(
    "/v1/events",
    {
      // A HEAD request would open a stream that never sends a body.
      exposeHeadRoute: false,
      schema: {
        tags: [Tag.Events],
        summary: "Follow events (Server-Sent Events)",
        description:
          "Each event is sent as `event: <topic>` (e.g. `run.failed`, `order.placed`) with the " +
          "event as `data`. `topic` selects topics: a comma list of dotted patterns where a " +
          "segment may be `*` (`order.*`), or `*` (default). Comment lines (`: ping`) keep the " +
          "stream alive. Live by default: what this node publishes from now on (run and step " +
          "events, user events). With `after=<id>` or the `Last-Event-ID` header, the durable " +
          "log instead: user events and run.completed, run.failed, run.cancelled and " +
          "compensation.failed of every node, each with its `id`, from after that id on, then " +
          "followed; `after=0` starts from the beginning.",
        security: BEARER,
        querystring: EventsQuery,
        response: {
          200: {
            description: "a stream of events whose data is the BatonEvent",
            content: { "text/event-stream": { schema: BatonEventSchema } },
          },
          ...errorResponses(400, 401, 403),
        },
      },
    },
    (request, reply) => {
      const { workflow, runId } = request.query;
      const selection = parseTopics(request.query.topic);
      const isWanted = (event: BatonEvent): boolean =>
        selection.matches(event.type) &&
        (workflow === undefined || event.workflow === workflow) &&
        (runId === undefined || event.runId === runId);
      const resumeFrom = resumePoint(request.query.after, request.headers["last-event-id"]);
      if (resumeFrom !== undefined && !selection.selectsDurable) {
        throw new ValidationError(
          "INVALID_ARGUMENT",
          `after / Last-Event-ID resume the durable log (user events, ${[...DURABLE_EVENT_TYPES].join(", ")}); the topic selects none of them`,
        );
      }
      const stream = new SseStream(reply, context.lifecycle.requestSignal(reply), context.sse);
      if (resumeFrom !== undefined) {
        tailDurableEvents(context.engine, context.hub, stream, {
          afterId: resumeFrom,
          isWanted,
          pollMs: DURABLE_POLL_MS,
          onError: (e) => request.log.warn({ err: e }, "could not read the event log"),
        });
        return;
      }
      const unsubscribe = context.hub.onEvery((event) => {
        if (isWanted(event)) stream.send(event.type, event, event.id);
      });
      stream.onEnd(unsubscribe);
    },
  );
}

/** How often a durable stream looks for events other nodes wrote. */
const DURABLE_POLL_MS = 1_000;

/**
 * Where a durable stream starts: the header a reconnecting EventSource sends (it keeps the URL it
 * started with, `after` included, so the header must win), else `after`.
 */
function resumePoint(
  after: number | undefined,
  lastEventId: string | string[] | undefined,
): number | undefined {
  if (lastEventId === undefined) return after;
  const header = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  const id = Number(header);
  if (header === undefined || !/^\d+$/.test(header) || !Number.isSafeInteger(id)) {
    throw new ValidationError(
      "INVALID_ARGUMENT",
      `Last-Event-ID ${JSON.stringify(header)} is not an event id this server gave`,
    );
  }
  return id;
}
