import {
  ValidationError,
  assertEventId,
  assertUserTopic,
  findNonJson,
  newUuid,
  type BatonEvent,
} from "../common/index.js";
import type { Store } from "../store/index.js";
import { toBatonEvent } from "./event-records.js";
import type { TriggerIndex } from "./triggers.js";

export interface PublishOptions {
  /** The event's id: its idempotency key in the log (1–99 of A–Z a–z 0–9 . _ - ~ :). Default: a UUID. */
  id?: string;
}

/** `created`: published now; otherwise the event that already had the id (nothing was written). */
export interface PublishResult {
  created: boolean;
  event: BatonEvent;
  /** Runs its triggers created now. */
  createdRuns: string[];
}

/**
 * Publishes a user event outside any run: checked (topic, id, data, what its triggers make of it)
 * before anything is written, then one store transaction for the event, its trigger runs and the
 * wake-up of the runs waiting for it. A publisher that retries with the same id after an error
 * cannot publish twice.
 */
export async function publishEvent(
  store: Store,
  triggers: TriggerIndex,
  now: number,
  nodeId: string,
  topic: string,
  data: unknown,
  options: PublishOptions,
): Promise<PublishResult> {
  assertUserTopic(topic);
  const id = options.id === undefined ? newUuid() : assertEventId(options.id);
  const problem = data === undefined ? undefined : findNonJson(data, "data");
  if (problem) throw new ValidationError("INPUT_NOT_JSON", `event data is not JSON: ${problem}`);
  const encoded = data === undefined ? null : JSON.stringify(data);
  const createRuns = triggers.runsFor({ topic, id, data }, encoded, now, nodeId);
  const result = await store.publishEvent({
    event: {
      type: topic,
      eventId: id,
      runId: null,
      workflow: null,
      status: null,
      data: encoded,
      at: now,
    },
    createRuns,
  });
  return {
    created: result.created,
    event: toBatonEvent(result.event),
    createdRuns: result.created ? result.createdRuns : [],
  };
}
