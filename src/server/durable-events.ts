import { EventType, type BatonEvent } from "../common/index.js";
import type { Engine } from "../engine/index.js";
import type { EventHub } from "./event-hub.js";
import type { SseStream } from "./sse.js";

/** Baton's own event types kept in the durable log (a run's end, written with it); user events are all kept. */
export const DURABLE_EVENT_TYPES: ReadonlySet<string> = new Set([
  EventType.RunCompleted,
  EventType.RunFailed,
  EventType.RunCancelled,
  EventType.CompensationFailed,
]);

const PAGE = 500;

export interface DurableTailOptions {
  /** Send events after this id (the SSE `Last-Event-ID` of a reconnecting client). */
  afterId: number;
  isWanted: (event: BatonEvent) => boolean;
  /** How often to look for events written by other nodes (which this node hears nothing of). */
  pollMs: number;
  onError: (error: unknown) => void;
}

/**
 * Streams the durable event log from `afterId` on, each event with its id, then follows it:
 * looked at again when this node ends a run or publishes a user event, and every `pollMs` for
 * what other nodes write.
 * A client that reconnects with `Last-Event-ID` misses nothing and sees nothing twice.
 */
export function tailDurableEvents(
  engine: Engine,
  hub: EventHub,
  stream: SseStream,
  options: DurableTailOptions,
): void {
  let cursor = options.afterId;
  let reading = false;
  let readAgain = false;

  const read = async (): Promise<void> => {
    if (reading) {
      readAgain = true;
      return;
    }
    reading = true;
    try {
      do {
        readAgain = false;
        for (;;) {
          const events = await engine.readEvents(cursor, PAGE);
          for (const event of events) {
            cursor = event.id!;
            if (options.isWanted(event)) stream.send(event.type, event, event.id);
          }
          if (events.length < PAGE || !stream.isOpen) break;
        }
      } while (readAgain && stream.isOpen);
    } catch (e) {
      options.onError(e);
    } finally {
      reading = false;
    }
  };

  const unsubscribe = hub.onEvery((event) => {
    if (event.user || DURABLE_EVENT_TYPES.has(event.type)) void read();
  });
  const timer = setInterval(() => void read(), options.pollMs);
  stream.onEnd(() => {
    unsubscribe();
    clearInterval(timer);
  });
  void read();
}
