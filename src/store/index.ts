export type * from "./store.js";
export type {
  ScheduleAdvance,
  ScheduleCatchup,
  ScheduleOverlap,
  ScheduleRecord,
  ScheduleSpec,
} from "./schedule-records.js";
export type * from "./webhook-store.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite/sqlite-store.js";
export {
  PostgresStore,
  DEFAULT_POOL_SIZE,
  type PostgresStoreOptions,
} from "./postgres/postgres-store.js";
export {
  PostgresNotifier,
  Channel as PostgresChannel,
  type NotificationHandler,
  type PostgresNotifierOptions,
} from "./postgres/postgres-notifier.js";
export { openStore, openJournalReader } from "./open-store.js";
export type { JournalReader, RunPosition } from "./journal-reader.js";
export { encodeCursor, decodeCursor, type RunCursor } from "./cursor.js";
