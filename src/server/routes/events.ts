import { EventType, ValidationError, type BatonEvent } from "../../common/index.js";
import { EventsQuery } from "../schemas/requests.js";
import { BatonEventSchema, errorResponses } from "../schemas/wire.js";
import { DURABLE_EVENT_TYPES, tailDurableEvents } from "../durable-events.js";
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
          "Comment lines (`: ping`) keep the stream alive. Live by default: what this node " +
          "publishes from now on. With `after=<id>` or the `Last-Event-ID` header, the durable " +
          "log instead: run.completed, run.failed and run.cancelled of every node, each with its " +
          "`id`, from after that id on, then followed; `after=0` starts from the beginning.",
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
      const resumeFrom = resumePoint(request.query.after, request.headers["last-event-id"]);
      if (resumeFrom !== undefined && ![...types].some((t) => DURABLE_EVENT_TYPES.has(t))) {
        throw new ValidationError(
          "INVALID_ARGUMENT",
          `after / Last-Event-ID resume the durable events (${[...DURABLE_EVENT_TYPES].join(", ")}); the topic selects none of them`,
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

/** Where a durable stream starts: `after`, else the header a reconnecting EventSource sends. */
function resumePoint(
  after: number | undefined,
  lastEventId: string | string[] | undefined,
): number | undefined {
  if (after !== undefined) return after;
  if (lastEventId === undefined) return undefined;
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
