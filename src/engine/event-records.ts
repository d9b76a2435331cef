import { decodeJson, type BatonEvent, type RunStatus } from "../common/index.js";
import type { EventRecord } from "../store/index.js";

/** A stored event as streams and the client see it (a BatonEvent with its log position). */
export function toBatonEvent(record: EventRecord): BatonEvent {
  const data = decodeJson(record.data);
  return {
    ...(record.position !== undefined ? { id: record.position } : {}),
    type: record.type,
    ...(record.eventId !== undefined ? { eventId: record.eventId } : {}),
    ...(record.user ? { user: true } : {}),
    ...optional("runId", record.runId),
    ...optional("workflow", record.workflow),
    ...optional<RunStatus>("status", record.status),
    at: new Date(record.at).toISOString(),
    // Baton's own events always carry an object; a user's carry what was published.
    ...(record.user ? (data === undefined ? {} : { data }) : { data: data ?? {} }),
  };
}

function optional<T>(key: string, value: T | null): Record<string, T> {
  return value === null ? {} : { [key]: value };
}
