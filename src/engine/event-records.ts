import { decodeJson, type BatonEvent, type RunStatus } from "../common/index.js";
import type { EventRecord } from "../store/index.js";

/** A stored event as streams and the client see it (a BatonEvent with its log position). */
export function toBatonEvent(record: EventRecord): BatonEvent {
  const data = decodeJson(record.data);
  // Read from the log, a record says; written, a user event is one with an id.
  const user = record.user ?? record.eventId !== undefined;
  return {
    ...(record.position !== undefined ? { id: record.position } : {}),
    type: record.type,
    ...(record.eventId !== undefined ? { eventId: record.eventId } : {}),
    ...(user ? { user: true } : {}),
    ...optional("runId", record.runId),
    ...optional("workflow", record.workflow),
    ...optional<RunStatus>("status", record.status),
    at: new Date(record.at).toISOString(),
    // Baton's own events always carry an object; a user's carry what was published.
    ...(user ? (data === undefined ? {} : { data }) : { data: data ?? {} }),
  };
}

function optional<T>(key: string, value: T | null): Record<string, T> {
  return value === null ? {} : { [key]: value };
}
