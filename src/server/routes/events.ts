import { EventType, ValidationError, type BatonEvent } from "../../common/index.js";
import { EventsQuery } from "../schemas/requests.js";
import { BatonEventSchema, errorResponses } from "../schemas/wire.js";
import { SseStream } from "../sse.js";
import { BEARER, Tag, type RouteContext, type ZodApp } from "./route-context.js";

const EVENT_TYPES: readonly string[] = Object.values(EventType);

/**
 * Which event types a `topic` parameter selects: exact types (`run.failed`), families
 * (`run.*`, `step.*`), or `*`. Unknown topics are refused rather than silently matching
 * nothing, so a typo does not look like a quiet system.
 */
export function parseTopics(topic: string | string[] | undefined): ReadonlySet<string> {
  const requested = (Array.isArray(topic) ? topic : [topic ?? "*"])
    .flatMap((part) => part.split(","))
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const selected = new Set<string>();
  for (const pattern of requested.length ? requested : ["*"]) {
    const matches =
      pattern === "*"
        ? EVENT_TYPES
        : pattern.endsWith(".*")
          ? EVENT_TYPES.filter((type) => type.startsWith(pattern.slice(0, -1)))
          : EVENT_TYPES.filter((type) => type === pattern);
    if (matches.length === 0) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `topic ${JSON.stringify(pattern)} matches no event; use one of ${EVENT_TYPES.join(", ")}, run.*, step.* or *`,
        { topic: pattern },
      );
    }
    for (const type of matches) selected.add(type);
  }
  return selected;
}

/**
 * GET /v1/events: the engine's events as Server-Sent Events, so choreographed consumers can
 * live beside the orchestration. Live only: events published while no one listens are not
 * replayed on connect.
 */
export function registerEventRoutes(app: ZodApp, context: RouteContext): void {
  app.get(
    "/v1/events",
    {
      // A HEAD request would open a stream that never sends a body.
      exposeHeadRoute: false,
      schema: {
        tags: [Tag.Events],
        summary: "Subscribe to run and step events (Server-Sent Events)",
        description:
          "Each event is sent as `event: <type>` (e.g. `run.failed`) with the event as `data`. " +
          "`topic` selects types: a comma list of types, `run.*`, `step.*`, or `*` (default). " +
          "Comment lines (`: ping`) keep the stream alive.",
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
      const types = parseTopics(request.query.topic);
      const isWanted = (event: BatonEvent): boolean =>
        types.has(event.type) &&
        (workflow === undefined || event.workflow === workflow) &&
        (runId === undefined || event.runId === runId);
      const stream = new SseStream(reply, context.lifecycle.requestSignal(reply), context.sse);
      const unsubscribe = context.hub.onEvery((event) => {
        if (isWanted(event)) stream.send(event.type, event, event.id);
      });
      stream.onEnd(unsubscribe);
    },
  );
}
